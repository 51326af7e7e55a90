"""Batch normalization (Ioffe & Szegedy 2015): the same network with batch norm reaches a
target accuracy in fewer steps and stays stable at higher learning rates.

Arms: MNIST-1D's reference 1-D CNN (`cnn1d`: three strided convolutions of 25
channels), with and without batch norm after each convolution, on MNIST-1D with a 10%
validation carve (batch 100), SGD with momentum 0.9 and a cosine decay over ``STEPS``
steps, at every rate of ``RATES``. Per arm: the best rate (on validation accuracy) and
there the first logged step where the training accuracy (of the batches, as logged)
reaches ``TARGET``, and the test accuracy; the largest *stable* rate, the largest at
which no seed diverges (non-finite, or collapsed to a constant prediction) and the
validation accuracy stays within 10 points of the arm's best.

The verdict's rule: *faster* where batch norm's median steps to the target, each arm at
its best rate, are below 0.9 of the plain network's (a seed that never reaches it counts
as twice the budget); *more stable* where its largest stable rate is higher. Both:
*reproduced*; one: *mixed*; neither: *not reproduced*.

Command:
  tricks experiments run batch_norm [--seeds N]
  tricks experiments run batch_norm --smoke          (seconds, for tests)

Result (session 12, 2 CPU cores, 5 seeds, 5.1 min from nothing): reproduced, far from
the paper's size. Each at its best rate (batch norm 0.3, plain 0.1), batch norm reaches
80% training accuracy at step 150 against 210 (median; 1.4x, the paper 14x) and ends at
96.24 ± 0.76% test accuracy against 94.02 ± 0.84%; the largest stable rate is 1 against
0.3 (3x, the paper 30x). The full table: ``experiments/results/batch_norm/table.md``.
"""

from __future__ import annotations

from experiments._registry import experiment
from experiments._study import (Options, Panels, Result, Runs, best, cell, mean, median_reached, reached_cell, reuse,
                                train_arms)
from experiments.optimizers import base_config

PUBLISHED = ("Ioffe & Szegedy 2015 (ImageNet, Inception): with batch norm the same network reaches the plain "
             "network's 72.2% accuracy in 14x fewer steps (BN-x5: rate 5x, 2.1M vs 31M steps), and trains at 30x "
             "the plain network's rate (BN-x30)")

RATES = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
STEPS = 3000
TARGET = 0.8
"""The training accuracy whose first step is compared (the CNN ends near 95% on test)."""
ARMS = {"plain": "cnn1d", "batch norm": "cnn1d(batch_norm=True)"}


def grid(options: Options) -> tuple[list[float], int]:
    """The rates and the steps of each run."""
    if options.smoke:
        return RATES[2:4], 4
    return RATES, STEPS


def arm(name: str, rate: float) -> str:
    return f"{name}, rate {rate:g}"


def stable(found: dict[str, Runs], name: str, rates: list[float]) -> float | None:
    """The largest rate of arm `name` at which no seed diverges and the mean validation
    accuracy is within 10 points of the arm's best rate's (None: no rate is)."""
    accuracy = {r: mean(found[arm(name, r)].surviving("validation")) for r in rates
                if not any(found[arm(name, r)].diverged)}
    if not accuracy:
        return None
    kept = [r for r, value in accuracy.items() if value >= max(accuracy.values()) - 0.10]
    return max(kept)


@experiment("batch_norm", claim="batch normalization reaches a target accuracy in fewer steps and allows higher "
                                "learning rates",
            source="Ioffe & Szegedy 2015, Batch Normalization: Accelerating Deep Network Training by Reducing "
                   "Internal Covariate Shift, section 4.2 and figure 2")
def run(options: Options) -> Result:
    rates, steps = grid(options)
    seeds = options.seed_list(5)
    cfg = base_config(options, steps, log_every=max(2, steps // 100))
    schedule = lambda rate: repr(f"cosine(init_value={rate:g})")  # noqa: E731
    arms = {arm(name, rate): [f"model={model}", f"optimizer=momentum(learning_rate={schedule(rate)}, momentum=0.9)"]
            for name, model in ARMS.items() for rate in rates}
    found = train_arms(cfg, arms, seeds, options.workdir)
    chosen = {name: best(found, [arm(name, r) for r in rates]) for name in ARMS}
    rows, numbers = [], {}
    for name in ARMS:
        runs = found[chosen[name]]
        largest = stable(found, name, rates)
        rows.append([name, chosen[name].rsplit(" ", 1)[1], reached_cell(runs.first_above(TARGET)),
                     cell(runs.final(), runs.diverged, scale=100), _rate(largest)])
        numbers[name] = {"best_rate": float(chosen[name].rsplit(" ", 1)[1]),
                         "steps_to_target": runs.first_above(TARGET), "test_accuracy": runs.final(),
                         "largest_stable_rate": largest,
                         "by_rate": {f"{r:g}": {"validation_accuracy": found[arm(name, r)].final("validation"),
                                                "test_accuracy": found[arm(name, r)].final(),
                                                "diverged": found[arm(name, r)].diverged} for r in rates}}
    bn_steps, plain_steps = (median_reached(found[chosen[name]].first_above(TARGET), steps)
                             for name in ("batch norm", "plain"))
    faster = bn_steps < 0.9 * plain_steps
    plain_stable, bn_stable = numbers["plain"]["largest_stable_rate"], numbers["batch norm"]["largest_stable_rate"]
    steadier = bn_stable is not None and (plain_stable is None or bn_stable > plain_stable)
    verdict = "reproduced" if faster and steadier else "mixed" if faster or steadier else "not reproduced"
    reading = (f"Each at its best rate, batch norm reaches {TARGET:.0%} training accuracy at step {bn_steps:.0f} "
               f"(median) against {plain_steps:.0f} without ({'faster' if faster else 'not faster'}); its largest "
               f"stable rate is {_rate(bn_stable)} against {_rate(plain_stable)} "
               f"({'higher' if steadier else 'not higher'}): {verdict}. {steps} steps, rates {rates}, "
               f"{len(seeds)} seeds per cell.")
    by_rate = Panels({name: (rates, [[100 * found[arm(name, r)].final("validation")[i] for r in rates]
                                     for i in range(len(seeds))]) for name in ARMS},
                     "validation accuracy (%)", x_label="learning rate", log_x=True)
    return Result(columns=["arm", "best rate", f"steps to train acc. {TARGET:.0%}", "test acc. (%)",
                           "largest stable rate"],
                  rows=rows, verdict=verdict, reading=reading, published=PUBLISHED, numbers=numbers,
                  curves={f"{name}, rate {r:g}": found[arm(name, r)].curve("train/accuracy") for name in ARMS
                          for r in rates},
                  curve_label="training accuracy (batches)",
                  plots={"accuracy_by_rate": by_rate}, reused=reuse(found))


def _rate(rate: float | None) -> str:
    return "none" if rate is None else f"{rate:g}"
