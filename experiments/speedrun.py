"""All the tricks together, in airbench's form (Jordan 2024): a fixed target accuracy, the
fastest recipe this toolkit builds from its own components, many runs of it, and an
ablation that takes out one trick at a time.

Tasks: MNIST-1D to 96% test accuracy (the default) and Fashion-MNIST to 93% (``--full``
adds it). Each task's baseline is its shipped config (``experiments/configs/``), run as
shipped; the recipe is that config with the task's tricks (``TASKS``) changed; each
ablation arm is the recipe with one trick set back to the baseline's setting. The runs
train one after another, not side by side, so that each run's wall time is its own:
from its first training call (compiling included) to the end of its last evaluation
(loading the data and building the model, the same for every arm, are not counted).
Beside it, the time the steps themselves took: the run's compiled pace (the median time
per step between log records) times its steps; the rest is compiling and evaluating.

A recipe reaches the target where its runs' *mean* test accuracy does (airbench's
criterion: the mean over runs, not the best run; a diverged run counts as it ended); its
time to target is then its runs' mean wall time. A trick *carries* the recipe where
taking it out leaves the arm below the target by more than the recipe's runs' std (a
smaller shortfall is within the spread), or makes it more than 10% slower.

The verdict's rule, per task: *reproduced* where the recipe reaches the target in less
time than the baseline (a baseline that does not reach it takes forever); *mixed* where
it reaches the target but not faster; *not reproduced* where it misses the target. Over
the tasks: their common verdict, else *mixed*.

Command:
  tricks experiments run speedrun [--seeds N] [--full]
  tricks experiments run speedrun --smoke          (seconds, for tests)

Result (2 CPU cores, nothing else running; session 20's `--full` call, 6.5 min: every
MNIST-1D run trained from nothing, Fashion-MNIST's 34 runs reused): reproduced on both
tasks.

MNIST-1D (10 runs per arm, every run compiling its programs, the persistent cache off):
the recipe reaches 96.16 ± 0.50% (6 of 10 runs at or above 96%) in 3.5 ± 0.1 s, of which
0.9 s are its 1,000 steps and the rest compiling and evaluating; the shipped config
never reaches 96% (94.69 ± 0.65% after 6,000 steps, in 7.9 s). One trick out at a time:
without batch norm 4 of 10 runs diverge at the rate of 0.5 (the others 84.35 ± 15.02%);
Adam with the same one-cycle shape at 0.01 ends at 94.24% (-1.92 points); a constant 0.5
at 95.33% (-0.83); no label smoothing 95.77% (-0.39, within the spread); the baseline's
6,000 steps reach 96.85% (10 of 10) but take 8.3 s; gradient histograms add 1.7 s to a
3.5 s run (session 17: 1.3 s; session 14, when calls with histograms were a second
compiled program, 3.2 s). At this size the seconds are won as much by compiling less as
by training less: the steps are a quarter of the recipe's time. Batch norm, Nesterov SGD
and one-cycle carry its accuracy, the short budget and lean logging its time.

Fashion-MNIST (``--full``: the baseline and the recipe 5 runs each, the 8 ablation arms
3 each; 34 runs, about 3.6 hours on 2 CPU cores, minutes on a GPU), trained over
sessions 18-20 by ``tools/speedrun_parts.py``, which keeps the finished runs' records in
``experiments/results/speedrun/runs/``. The baseline's seed 0, trained again at the end
of session 19 and at the start of session 20, took 177.6 and 177.7 s against session
18's 174.9 s, with the same accuracy, so the sessions' times compare within 2%. The
recipe (a third conv block, dense 256 with dropout 0.5, batch norm, Nesterov SGD with
weight decay 5e-4 and one-cycle to 0.1, label smoothing 0.1, flips, 16 epochs, no
gradient histograms) reaches 93.36 ± 0.07% (5 of 5) in 496.8 ± 5.2 s, 481 s of it steps;
the shipped config ends at 91.75 ± 0.23% in 176.4 s, never 93%. One trick out at a time
(3 runs each): one-cycle (a constant 0.1) 89.55 ± 1.82% (-3.81 points; runs from 87.5 to
91.0%); the shipped 8 epochs 92.26 ± 0.07% (-1.10) in 255 s; AdamW one-cycle to 0.002
92.53% (-0.84); crops instead of flips 92.61% (-0.75); no batch norm 92.76% (-0.61); the
shipped 32-64 channels 92.92% (-0.44) in 396 s; label smoothing 0.05 93.22% (3 of 3 at
93%, within the spread); gradient histograms every 100 steps 93.32% (3 of 3) in 508.9 s,
+12 s (2%). Every trick but label smoothing and lean logging carries the accuracy, none
the time: the recipe's time is its network and its epochs, 2.8x the shipped config's,
for 1.6 points. Where the network is the recipe's, the arms took 486-524 s, within 6% of
the recipe's time. The full table: ``experiments/results/speedrun/table.md``.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib

from experiments._registry import experiment
from experiments._study import Options, Points, Result, Runs, cell, mean, reuse, spread, train_arms

PUBLISHED = ("Jordan 2024, airbench (CIFAR-10, one A100): 94% test accuracy, the mean over many runs, in 3.29 s "
             "of training, against 6.3 s for the earlier record (Page 2018: 26 s at 94% on one V100 with "
             "batch norm, one-cycle Nesterov SGD, label smoothing and flip/crop augmentation); its ablations "
             "credit most of the gain to the network's width and batch norm, the whitening first layer, "
             "Lookahead, label smoothing and test-time flips")

CONFIGS = pathlib.Path(__file__).parent / "configs"
SLOWER = 1.10
"""An arm is slower than the recipe where its mean wall time exceeds the recipe's by this factor."""


@dataclasses.dataclass(frozen=True)
class Trick:
    """One change from the baseline.

    Attributes:
        name: what it is, as the table names it ("batch norm").
        recipe: the config overrides that put it in.
        baseline: the overrides that set it back to the baseline's setting.
    """

    name: str
    recipe: tuple[str, ...]
    baseline: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Task:
    """A target to reach.

    Attributes:
        name: the task as the table names it.
        config: the shipped config (a file stem in ``experiments/configs``): the baseline.
        target: the test accuracy to reach (the mean over runs).
        tricks: the recipe's changes from the baseline, each taken out in one ablation arm.
        seeds: runs of the baseline and the recipe by default (their time to target is a
            mean over these).
        ablation_seeds: runs of each ablation arm by default (0: `seeds`).
    """

    name: str
    config: str
    target: float
    tricks: tuple[Trick, ...]
    seeds: int
    ablation_seeds: int = 0

    def arms(self) -> dict[str, list[str]]:
        """``{arm: overrides}``: the baseline, the recipe, and the recipe without each trick.

        Examples:
            >>> TASKS["mnist1d"].arms()["without batch norm"][0]
            'model=cnn1d(batch_norm=True)'
            >>> TASKS["mnist1d"].arms()["without batch norm"][-1]
            'model=cnn1d'
        """
        recipe = [override for trick in self.tricks for override in trick.recipe]
        return {"baseline": [], "recipe": recipe,
                **{f"without {trick.name}": [*recipe, *trick.baseline] for trick in self.tricks}}

    def seed_lists(self, options: Options) -> dict[str, list[int]]:
        """``{arm: seeds}``: `seeds` for the baseline and the recipe, `ablation_seeds` for the rest.

        Examples:
            >>> {arm: len(seeds) for arm, seeds in TASKS["fashion_mnist"].seed_lists(Options()).items()}["recipe"]
            5
        """
        ablation = options.seed_list(self.ablation_seeds or self.seeds)
        return {arm: options.seed_list(self.seeds) if arm in ("baseline", "recipe") else ablation
                for arm in self.arms()}


def _nesterov(rate: str, weight_decay: float = 0.0) -> str:
    decay = f", weight_decay={weight_decay:g}" if weight_decay else ""
    return f"optimizer=nesterov(learning_rate={rate}, momentum=0.9{decay})"


WIDE_CNN = "cnn(channels=(32, 64, 128), dense=(256,), dense_dropout=0.5, batch_norm={})"


TASKS = {
    "mnist1d": Task(
        "MNIST-1D", "mnist1d_cnn", 0.96, (
            Trick("batch norm", ("model=cnn1d(batch_norm=True)",), ("model=cnn1d",)),
            Trick("Nesterov SGD", (_nesterov("'one_cycle(max_lr=0.5)'"),),
                  ("optimizer=adam(learning_rate='one_cycle(max_lr=0.01)')",)),
            Trick("one-cycle", (), (_nesterov("0.5"),)),
            Trick("label smoothing", (), ("loss=cross_entropy",)),
            Trick("the short budget", ("num_steps=1000",), ("num_steps=6000",)),
            Trick("lean logging", ("histogram_every=0",), ("histogram_every=100",)),
        ), seeds=10),
    "fashion_mnist": Task(
        "Fashion-MNIST", "fashion_mnist_cnn", 0.93, (
            Trick("batch norm", (f"model={WIDE_CNN.format(True)}",), (f"model={WIDE_CNN.format(False)}",)),
            Trick("the wider network", (), ("model=cnn(channels=(32, 64), dense=(128,), dense_dropout=0.3, "
                                            "batch_norm=True)",)),
            Trick("Nesterov SGD", (_nesterov("'one_cycle(max_lr=0.1)'", weight_decay=0.0005),),
                  ("optimizer=adamw(learning_rate='one_cycle(max_lr=0.002)', weight_decay=0.0001)",)),
            Trick("one-cycle", (), (_nesterov("0.1", weight_decay=0.0005),)),
            Trick("label smoothing 0.1", ("loss=cross_entropy(label_smoothing=0.1)",),
                  ("loss=cross_entropy(label_smoothing=0.05)",)),
            Trick("flips for crops", ('augment=["random_flip"]',), ('augment=["random_crop(padding=2)"]',)),
            Trick("the long budget", ("num_epochs=16",), ("num_epochs=8",)),
            Trick("lean logging", ("histogram_every=0",), ("histogram_every=100",)),
        ), seeds=5, ablation_seeds=3),
}
"""Each task's recipe, trick by trick. MNIST-1D's baseline (``mnist1d_cnn``) is the
paper's: the reference CNN with constant Adam 0.01, batch 100, 6,000 steps, label
smoothing 0.05 (the engine's default loss). The recipe adds batch norm; swaps Adam for
Nesterov SGD with a one-cycle rate peaking at 0.5 (its ablations: Adam with the same
one-cycle shape at the baseline's 0.01, and Nesterov at a constant 0.5); keeps the label
smoothing (its ablation: none); trains 1,000 steps (its ablation: the baseline's
6,000); and turns off the gradient histograms ("lean logging"), which the engine records
every 100 steps by default (then a second compiled program, about 3 s of a 6 s run; since
session 17 a branch of the one program, 1.3 s). Chosen from probes of 2-3 seeds each:
batch norm with a cosine decay from 0.3 for 3,000 steps reached 96.3%; with one-cycle
Nesterov at 0.5, 2,000 steps 97.0%, 1,000 steps 96.5-96.8%, 600 steps 96.0%, 300 steps
94.1%; 64 channels instead of 25 did no better at 2,000 steps (97.1%).

Fashion-MNIST's baseline (``fashion_mnist_cnn``) is the two-conv net (32, 64) with a dense
layer of 128 (dropout 0.3), AdamW with warmup and cosine from 0.002, random crops, 8
epochs (91.74 ± 0.20%). The recipe adds batch norm; widens it (a third block of 128, a
dense layer of 256 with dropout 0.5; its ablation: the shipped widths with batch norm);
swaps AdamW for Nesterov SGD with weight decay 5e-4 and a one-cycle rate peaking at 0.1
(ablations: AdamW one-cycle at the baseline's 0.002, and a constant 0.1); raises label
smoothing to 0.1 (ablation: 0.05); flips instead of crops; trains 16 epochs (ablation:
8); and turns the histograms off. Chosen from probes of one seed each on 2 CPU cores:
the shipped widths with batch norm and one-cycle Nesterov, no augmentation, 8 epochs:
92.25%; a third block: 92.40% (8 epochs), 92.62% (16), with flips 92.57% (16, 96%
training accuracy); then the wider dense layer with dropout 0.5, weight decay and label
smoothing 0.1: 93.33%."""


def grid(options: Options) -> list[tuple[str, Task, dict[str, list[str]]]]:
    """The tasks to run, each with its key and its arms (in smoke mode: MNIST-1D for 4
    steps, the baseline, the recipe and one ablation)."""
    if options.smoke:
        task = TASKS["mnist1d"]
        chosen = {name: [*overrides, "num_steps=4", "eval_every=4", "log_every=2"]
                  for name, overrides in list(task.arms().items())[:3]}
        return [("mnist1d", task, chosen)]
    keys = list(TASKS) if options.mode == "full" else ["mnist1d"]
    return [(key, TASKS[key], TASKS[key].arms()) for key in keys]


def base_config(task: Task, smoke: bool):
    """The task's shipped config (its smoke form in smoke mode), without a progress bar,
    and (out of smoke mode) without the persistent compilation cache, so that every run's
    time includes its compiling: with the cache, an arm's first run compiled and the
    others read the programs back (MNIST-1D's recipe: 3.9 s, then 1.7-2.0 s)."""
    from tricks import config as config_lib

    cfg = config_lib.load_file(f"{CONFIGS / task.config}.py" + (":smoke" if smoke else ""))
    cfg.progress = False
    if not smoke:
        cfg.compilation_cache = ""
    return cfg


@experiment("speedrun", claim="the toolkit's tricks together reach a fixed accuracy much faster than the shipped "
                              "configs, and each trick's share of the speed-up can be measured",
            source="Jordan 2024, 94% on CIFAR-10 in 3.29 seconds on a single GPU (airbench); Page 2018, How to "
                   "train your ResNet")
def run(options: Options) -> Result:
    rows, numbers, verdicts, readings, curves, points, everything = [], {}, [], [], {}, {}, {}
    for key, task, arms in grid(options):
        base, root, seeds = base_config(task, options.smoke), options.workdir / key, task.seed_lists(options)
        found, references = {}, ["baseline", "recipe"]
        for chosen in (references, [arm for arm in arms if arm not in references]):  # each with its seeds
            if chosen:
                found |= train_arms(base, {arm: arms[arm] for arm in chosen}, seeds[chosen[0]], root, vectorize=False)
        everything |= {f"{task.name}, {arm}": runs for arm, runs in found.items()}
        verdict, reading = judge(task, found)
        verdicts.append(verdict)
        readings.append(reading)
        recipe = found["recipe"]
        for arm, runs in found.items():
            rows.append([task.name, arm, f"{_steps(runs)}", cell(runs.final(), runs.diverged, scale=100),
                         f"{sum(a >= task.target for a in runs.final())} of {len(runs.final())}",
                         _time_to_target(runs, task.target), cell(runs.wall_times(), digits=1),
                         f"{_in_steps(runs):.1f}", "-" if arm == "recipe" else _change(runs, recipe)])
            numbers[f"{task.name}, {arm}"] = {
                "overrides": arms[arm], "target": task.target, "steps": _steps(runs),
                "test_accuracy": runs.final(), "wall_time_s": runs.wall_times(),
                "step_seconds": runs.step_seconds(), "diverged": runs.diverged}
            curves[f"{task.name}, {arm}"] = runs.curve("train/loss")
        points[f"{task.name} (target {task.target:.0%})"] = {
            arm: (mean(runs.wall_times()), [100 * a for a in runs.final()]) for arm, runs in found.items()}
    verdict = verdicts[0] if len(set(verdicts)) == 1 else "mixed"
    return Result(columns=["task", "arm", "steps", "test acc. (%)", "runs at target", "time to target (s)",
                           "wall time (s)", "in steps (s)", "vs recipe (all runs)"],
                  rows=rows, verdict=verdict, reading=" ".join(readings), published=PUBLISHED, numbers=numbers,
                  curves=curves, log_y=True,
                  plots={"accuracy_by_time": Points(points, x_label="mean wall time per run (s)", log_x=True)},
                  reused=reuse(everything))


def overall(runs: Runs) -> float:
    """The runs' mean test accuracy, every run counted as it ended (a diverged one at
    chance; one stopped by a non-finite loss, with no accuracy, as 0).

    Examples:
        >>> overall(Runs([pathlib.Path("x")] * 2, [{"test": {"accuracy": 0.9}}, {"error": "nan"}], [[], []], 10))
        0.45
    """
    values = [0.0 if math.isnan(a) else a for a in runs.final()]
    return sum(values) / len(values)


def reaches(runs: Runs, target: float) -> bool:
    """Whether the runs' `overall` mean test accuracy is at least `target`.

    Examples:
        >>> runs = Runs([pathlib.Path("x")] * 2, [{"test": {"accuracy": a}} for a in (0.95, 0.975)], [[], []], 10)
        >>> reaches(runs, 0.96), reaches(runs, 0.963)
        (True, False)
    """
    return overall(runs) >= target - 1e-12


def judge(task: Task, found: dict[str, Runs]) -> tuple[str, str]:
    """The task's verdict by the module's rule, and its reading."""
    recipe, baseline = found["recipe"], found["baseline"]
    fast = mean(recipe.wall_times())
    base_time = mean(baseline.wall_times()) if reaches(baseline, task.target) else math.inf
    hit = reaches(recipe, task.target)
    verdict = "not reproduced" if not hit else "reproduced" if fast < base_time else "mixed"
    changes, carried, noise = [], [], spread(recipe.final())[1]
    for trick in task.tricks:
        runs = found.get(f"without {trick.name}")
        if runs is None:
            continue
        accuracy = 100 * (overall(runs) - overall(recipe))
        seconds = mean(runs.wall_times()) - fast
        missed = not reaches(runs, task.target) and overall(runs) < overall(recipe) - noise
        changes.append(f"{trick.name} {accuracy:+.2f} points, {seconds:+.1f} s"
                       + (f" ({_diverged(runs)})" if any(runs.diverged) else ""))
        if missed or mean(runs.wall_times()) > SLOWER * fast:
            carried.append(trick.name + (" (accuracy)" if missed else " (time)"))
    accuracy, std = spread(recipe.final(), scale=100)
    base_accuracy = spread(baseline.final(), scale=100)[0]
    reached = (f"{_seconds(recipe)} (in steps {_in_steps(recipe):.1f} s)" if hit else
               f"never: it ends at {accuracy:.2f} ± {std:.2f}% in {_seconds(recipe)}")
    base = (f"the baseline (the shipped config) reaches it in {_seconds(baseline)}" if base_time < math.inf else
            f"the baseline (the shipped config) never does: {base_accuracy:.2f}% after {_steps(baseline)} steps, "
            f"in {_seconds(baseline)}")
    reading = (f"{task.name}, target {task.target:.0%} (mean of {len(recipe.final())} runs): the recipe reaches "
               f"{accuracy:.2f} ± {std:.2f}% ({sum(a >= task.target for a in recipe.final())} of "
               f"{len(recipe.final())} runs at or above the target), time to target {reached}; {base}: "
               f"{verdict}.")
    if changes:
        reading += (f" Taking out one trick at a time: {'; '.join(changes)}. Carried by: "
                    f"{', '.join(carried) or 'no single trick'}.")
    return verdict, reading


def _steps(runs: Runs) -> int:
    return max((int(s.get("step", 0)) for s in runs.summaries), default=0)


def _in_steps(runs: Runs) -> float:
    """The mean time the steps took, at each run's compiled pace."""
    return mean([pace * _steps(runs) for pace in runs.step_seconds()])


def _seconds(runs: Runs) -> str:
    return f"{cell(runs.wall_times(), digits=1)} s"


def _time_to_target(runs: Runs, target: float) -> str:
    return cell(runs.wall_times(), digits=1) if reaches(runs, target) else "not reached"


def _change(runs: Runs, recipe: Runs) -> str:
    """The change in `overall` test accuracy and in mean wall time against the recipe."""
    return (f"{100 * (overall(runs) - overall(recipe)):+.2f} points, "
            f"{mean(runs.wall_times()) - mean(recipe.wall_times()):+.1f} s")


def _diverged(runs: Runs) -> str:
    return f"{sum(runs.diverged)} of {len(runs.diverged)} diverged"
