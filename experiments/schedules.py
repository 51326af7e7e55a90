"""Schedules at a fixed budget (Smith & Topin 2017; Loshchilov & Hutter 2017; Goyal et al.
2017): how the learning-rate schedule changes what a budget of steps buys, and whether
1cycle reaches the step schedule's accuracy in far fewer steps.

Arms: eight schedules of SGD with momentum 0.9 on the 2 x 100 ReLU MLP on MNIST-1D (batch
100), at several budgets of steps, each schedule at each budget at its own best peak rate
from ``PEAKS`` (chosen on the validation split; the table reports the test split). A
schedule is written for its budget B (`spec`): constant; step (÷10 at 50% and 75% of B,
the ResNet schedule); exponential (down to 1% of the peak at B); cosine; warmup + cosine
(5% of B); cyclic triangular2 (from a tenth of the peak, 4 cycles); 1cycle (PyTorch's
defaults: 30% up from a 25th of the peak, then down to a 10^4th of that; the momentum
stays at 0.9, not cycled); SGDR (cycles of B/7, 2B/7, 4B/7).

The verdict's rule, for Smith & Topin's claim: *reproduced* where 1cycle, at a budget at
most a third of the one where the step schedule does best, reaches the step schedule's
best test accuracy (its mean minus its std there); *mixed* where 1cycle does not, but
beats the step schedule at some budget by more than their larger std; *not reproduced*
otherwise. (The step schedule's best budget, not simply the largest: where longer runs
overfit, the largest budget's accuracy is lower, and reaching it sooner says nothing.)

Command:
  tricks experiments run schedules [--seeds N]
  tricks experiments run schedules --smoke          (seconds, for tests)

Result (session 11, 2 CPU cores, 5 seeds, 5.7 min): mixed. At 300 steps 1cycle leads
(63.70 ± 0.47% against the step schedule's 57.68 ± 1.38%), but it does not reach the step
schedule's best (66.60 ± 1.35% at 1000 steps) in a third of the steps; at 100 steps a
constant rate is best; 5 of 8 schedules do best below 3000 steps (the MLP overfits). The
full table: ``experiments/results/schedules/table.md``.
"""

from __future__ import annotations

import math

from experiments._registry import experiment
from experiments._study import Options, Panels, Result, Runs, best, cell, reuse, spread, train_arms
from experiments.optimizers import base_config

PUBLISHED = ("Smith & Topin 2017 (CIFAR-10, ResNet-56): 1cycle 92.4% test accuracy at 10k iterations against "
             "the step schedule's 91.2% at 80k (super-convergence); Loshchilov & Hutter 2017 (SGDR, CIFAR-10 "
             "WRN-28-10): warm restarts reach a given error in 2-4x fewer epochs than step decay")

SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup + cosine", "cyclic triangular2", "1cycle", "SGDR")
PEAKS = [0.01, 0.03, 0.1, 0.3, 1.0]
"""A first run with 0.01-0.1 chose 0.1 for every schedule at every budget: the grid was
extended upwards until the best lay inside it (the reading names any still at an edge)."""
BUDGETS = [100, 300, 1000, 3000]


def spec(schedule: str, peak: float, budget: int) -> str:
    """The learning-rate spec of `schedule` with peak rate `peak` over `budget` steps.

    Examples:
        >>> spec("step", 0.1, 1000)
        'multistep(init_value=0.1, milestones=[500, 750], gamma=0.1)'
        >>> spec("SGDR", 0.1, 700)
        'sgdr(init_value=0.1, t0=100, t_mult=2)'
    """
    specs = {
        "constant": f"constant(value={peak})",
        "step": f"multistep(init_value={peak}, milestones=[{budget // 2}, {3 * budget // 4}], gamma=0.1)",
        "exponential": f"exponential(init_value={peak}, decay_steps={budget}, decay_rate=0.01)",
        "cosine": f"cosine(init_value={peak})",
        "warmup + cosine": f"warmup(cosine(init_value={peak}), warmup_steps={max(1, budget // 20)})",
        "cyclic triangular2": f"cyclic(base_lr={peak / 10:g}, max_lr={peak}, step_size_up={max(1, budget // 8)}, "
                              f"mode='triangular2')",
        "1cycle": f"one_cycle(max_lr={peak})",
        "SGDR": f"sgdr(init_value={peak}, t0={max(1, budget // 7)}, t_mult=2)",
    }
    return specs[schedule]


def grid(options: Options) -> tuple[tuple[str, ...], list[float], list[int]]:
    """The schedules, the peak rates and the budgets."""
    if options.smoke:
        return ("step", "1cycle"), PEAKS[1:3], [4, 8]
    return SCHEDULES, PEAKS, BUDGETS


def arm(schedule: str, peak: float, budget: int) -> str:
    return f"{schedule}, peak {peak:g}, {budget} steps"


@experiment("schedules", claim="at a fixed budget the schedule matters; 1cycle reaches the step schedule's accuracy "
                               "in far fewer steps",
            source="Smith & Topin 2017, Super-Convergence: Very Fast Training of Neural Networks Using Large "
                   "Learning Rates, table 1")
def run(options: Options) -> Result:
    schedules, peaks, budgets = grid(options)
    seeds = options.seed_list(5)
    found: dict[str, Runs] = {}
    for budget in budgets:  # one sweep per budget (its runs' length differs from the others')
        cfg = base_config(options, budget, log_every=max(2, budget // 30))
        arms = {arm(s, peak, budget): [f"optimizer=momentum(learning_rate={spec(s, peak, budget)!r}, momentum=0.9)"]
                for s in schedules for peak in peaks}
        found |= train_arms(cfg, arms, seeds, options.workdir / f"{budget}_steps")
    chosen = {(s, b): found[best(found, [arm(s, peak, b) for peak in peaks])] for s in schedules for b in budgets}
    rows = [[s, *(cell(chosen[s, b].final(), chosen[s, b].diverged, scale=100) for b in budgets)] for s in schedules]
    numbers = {f"{s}, {b} steps": {"peak": best(found, [arm(s, peak, b) for peak in peaks]),
                                   "test_accuracy": chosen[s, b].final(), "diverged": chosen[s, b].diverged}
               for s in schedules for b in budgets}
    numbers["grid"] = {name: {"test_accuracy": runs.final(), "validation_accuracy": runs.final("validation"),
                              "diverged": runs.diverged} for name, runs in found.items()}
    verdict, reading = judge(chosen, schedules, budgets)
    edges = [f"{s} at {b}" for s in schedules for b in budgets
             if best(found, [arm(s, peak, b) for peak in peaks]) in (arm(s, peaks[0], b), arm(s, peaks[-1], b))]
    reading += f" Best peak at an edge of the grid: {', '.join(edges) or 'none'}."
    by_budget = Panels({s: (budgets, [[100 * chosen[s, b].final()[i] for b in budgets] for i in range(len(seeds))])
                        for s in schedules}, "test accuracy (%) at its best peak", x_label="budget (steps)",
                       log_x=True)
    return Result(columns=["schedule", *(f"{b} steps: test acc. (%)" for b in budgets)], rows=rows, verdict=verdict,
                  reading=reading + f" {len(seeds)} seeds per cell; peaks {', '.join(map(str, peaks))} chosen on "
                                    f"validation for each schedule and budget.",
                  published=PUBLISHED, numbers=numbers,
                  curves={s: chosen[s, budgets[-1]].curve("train/loss") for s in schedules}, log_y=True,
                  curve_label=f"training loss, {budgets[-1]} steps", plots={"accuracy_by_budget": by_budget},
                  reused=reuse(found))


def judge(chosen: dict[tuple[str, int], Runs], schedules: tuple[str, ...], budgets: list[int]) -> tuple[str, str]:
    """The verdict by the module's rule, and the reading."""
    def stats(s: str, b: int) -> tuple[float, float]:
        return spread(chosen[s, b].surviving(), scale=100)

    def best_budget(s: str) -> int:
        return max(budgets, key=lambda b: _rank(stats(s, b)))

    def shown(s: str, b: int) -> str:
        return cell(chosen[s, b].final(), chosen[s, b].diverged, scale=100)

    def leader(b: int) -> str:
        top = max(schedules, key=lambda s: _rank(stats(s, b)))
        return f"{b} steps: {top} ({shown(top, b)})"

    peak = best_budget("step")
    step_mean, step_std = stats("step", peak)
    early = [b for b in budgets if 3 * b <= peak and stats("1cycle", b)[0] >= step_mean - step_std]
    beats = [b for b in budgets
             if stats("1cycle", b)[0] > stats("step", b)[0] + max(stats("1cycle", b)[1], stats("step", b)[1])]
    verdict = "reproduced" if early else "mixed" if beats else "not reproduced"
    overfit = [s for s in schedules if best_budget(s) != budgets[-1]]
    reading = (f"Best schedule at each budget (test accuracy, %): {'; '.join(leader(b) for b in budgets)}. "
               f"{len(overfit)} of {len(schedules)} schedules do best below the largest budget "
               f"({', '.join(overfit) or 'none'}). The step schedule does best at {peak} steps: {shown('step', peak)}; "
               f"1cycle reaches that (within its std) at {', '.join(map(str, early)) or 'no budget'} of a third of "
               f"{peak} steps or less; 1cycle beats step beyond the seeds' spread at "
               f"{', '.join(map(str, beats)) or 'no budget'}: {verdict}.")
    return verdict, reading


def _rank(stat: tuple[float, float]) -> float:
    return stat[0] if math.isfinite(stat[0]) else -math.inf
