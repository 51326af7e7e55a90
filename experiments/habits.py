"""Two habits of the catalogue (SPEC §7), each a small measured check:

1. **Overfit a small subset first** (`tricks sanity`, `tricks.diagnostics.overfit_check`):
   a healthy pipeline reaches 100% training accuracy on a few examples within the
   check's budget; a broken one does not, which the check reports as FAIL.
2. **Watch the gradients per layer** (``train/grad_norm/<layer>``, `tricks plot grads`):
   a stalled layer shows as a layer whose gradient norm stays far below the others', which
   `tricks.diagnostics.stalled_layers` names (typically below 1e-3 of the largest layer's).

Arms of the first: MNIST-1D's 2 x 100 ReLU MLP with Adam (`experiments/configs/mnist1d_mlp.py`),
the check at its defaults (the first 64 training examples as one batch, at most 500 steps)
and on 512 examples, on four pipelines written as ``.npz`` files (the `arrays` dataset):
*healthy*; *shuffled labels*, a broken label map giving each example another one's label
(a fixed random permutation); *labels off by one*, a consistent wrong map (class c read as
c + 1); *blank inputs*, a broken normalization that zeroes every feature. One check per
seed (the model's initialization).

Arms of the second: ten hidden layers of 128 units on MNIST-1D, SGD with momentum 0.9 and
a cosine decay from ``RATE`` over ``STEPS`` steps, the per-layer gradient norms logged
every ``LOG_EVERY`` steps: *healthy* (ReLU, Kaiming); *vanishing* (sigmoid, Xavier: the
case Glorot & Bengio studied, each sigmoid layer scaling the backward signal by at most
1/4); *frozen* (the healthy network with its middle layer, the fifth, frozen: `freeze`).

The verdict's rule: the first habit *holds* where the healthy pipeline passes in every
seed and the broken label map (shuffled labels) fails in every seed, at the default size;
the second *holds* where the healthy network has no stalled layer in any seed and the
vanishing one has at least one in every seed. Both: *reproduced*; one: *mixed*; neither:
*not reproduced*. The reading says what each check cannot see (the consistent wrong map;
the frozen layer).

Command:
  tricks experiments run habits [--seeds N]
  tricks experiments run habits --smoke          (seconds, for tests)

Result (session 12, 2 CPU cores, 5 seeds, about 1 min): mixed. The overfit check does
not catch the broken label map: the MLP fits 64 examples with shuffled labels in 9 steps
(11 with the true ones) and 512 in 42 (35), as networks fit random labels (Zhang et al.
2017); it catches only a break that makes fitting impossible (blank inputs: at best
15.6%, FAIL in every seed). A label map that is wrong but consistent passes too. The
gradient check holds: in every seed of the sigmoid network the first five layers'
gradients stay below 1e-3 of the largest layer's and are named, and the network never
leaves chance; the healthy ReLU network has no such layer. A frozen layer keeps its
gradients (only its updates are zero) and is named in no run. The full table:
``experiments/results/habits/table.md``.
"""

from __future__ import annotations

import pathlib

import numpy as np

from experiments._registry import experiment
from experiments._study import Options, Panels, Result, Runs, cell, reuse, train_arms
from experiments.optimizers import base_config

PUBLISHED = ("Karpathy 2019, A Recipe for Training Neural Networks: 'overfit one batch' to catch bugs before "
             "training; Glorot & Bengio 2010 (figure 7): in a 5-layer sigmoid network the back-propagated "
             "gradients shrink layer by layer towards the input")

PIPELINES = ["healthy", "shuffled labels", "labels off by one", "blank inputs"]
SIZES = [64, 512]
MAX_STEPS = 500
DEPTH, WIDTH = 10, 128
RATE, STEPS, LOG_EVERY = 0.03, 1000, 20


def networks(depth: int) -> dict[str, list[str]]:
    """The second habit's arms: overrides of a ReLU network of `depth` hidden layers.

    Examples:
        >>> networks(10)["frozen"][-1]
        "optimizer=freeze(momentum(learning_rate='cosine(init_value=0.03)', momentum=0.9), patterns=['Dense_4/'])"
    """
    frozen = f"Dense_{depth // 2 - 1}/"  # (the middle layer)
    return {
        "healthy": ["model.activation=relu", "model.init=kaiming_normal"],
        "vanishing": ["model.activation=sigmoid", "model.init=xavier_normal"],
        "frozen": ["model.activation=relu", "model.init=kaiming_normal",
                   f"optimizer=freeze(momentum(learning_rate='cosine(init_value={RATE})', momentum=0.9), "
                   f"patterns=[{frozen!r}])"],
    }


def grid(options: Options) -> tuple[list[int], int, int, int]:
    """The check's sizes and steps, the networks' depth and steps."""
    if options.smoke:
        return SIZES[:1], 5, 3, 4
    return SIZES, MAX_STEPS, DEPTH, STEPS


def broken(pipeline: str, x: np.ndarray, y: np.ndarray, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The training arrays as a `pipeline` would deliver them.

    Examples:
        >>> x, y = np.ones((4, 2), np.float32), np.array([0, 1, 2, 2])
        >>> broken("labels off by one", x, y, 3)[1].tolist(), float(broken("blank inputs", x, y, 3)[0].max())
        ([1, 2, 0, 0], 0.0)
    """
    if pipeline == "healthy":
        return x, y
    if pipeline == "shuffled labels":
        return x, np.random.default_rng(seed).permutation(y)
    if pipeline == "labels off by one":
        return x, (y + 1) % classes
    if pipeline == "blank inputs":
        return np.zeros_like(x), y
    raise ValueError(f"unknown pipeline {pipeline!r}; known: {', '.join(PIPELINES)}")


def write_pipelines(folder: pathlib.Path) -> dict[str, str]:
    """Each pipeline's MNIST-1D as an ``.npz`` file in `folder`; pipeline -> dataset spec."""
    import registry

    dataset = registry.build("dataset", "mnist1d")
    (x, y), test = dataset.arrays("train"), dataset.arrays("test")
    folder.mkdir(parents=True, exist_ok=True)
    specs = {}
    for pipeline in PIPELINES:
        path = folder / f"{pipeline.replace(' ', '_')}.npz"
        bx, by = broken(pipeline, x, y, dataset.num_classes)
        np.savez(path, x_train=bx, y_train=by, x_test=test[0], y_test=test[1])
        specs[pipeline] = f"arrays(path={str(path)!r})"
    return specs


def overfit(options: Options, sizes: list[int], max_steps: int, seeds: list[int]) -> dict[tuple[str, int], list]:
    """Each (pipeline, size)'s `SanityResult` per seed."""
    from tricks import diagnostics

    specs = write_pipelines(options.workdir / "pipelines")
    found: dict[tuple[str, int], list] = {}
    for pipeline, spec in specs.items():
        for size in sizes:
            for seed in seeds:
                cfg = base_config(options, max_steps)
                cfg.dataset, cfg.seed = spec, seed
                found.setdefault((pipeline, size), []).append(diagnostics.overfit_check(cfg, size, max_steps))
    return found


def stalls(runs: Runs) -> list[dict[str, float]]:
    """Each run's stalled layers (`tricks.diagnostics.stalled_layers` over its log steps)."""
    from tricks import diagnostics

    found = []
    for records in runs.records:
        layers = sorted({key[len(diagnostics.GRAD_NORM_PREFIX):] for r in records for key in r
                         if key.startswith(diagnostics.GRAD_NORM_PREFIX)}, key=_layer_order)
        rows = [r for r in records if all(diagnostics.GRAD_NORM_PREFIX + layer in r for layer in layers)]
        found.append(diagnostics.stalled_layers({layer: [r[diagnostics.GRAD_NORM_PREFIX + layer] for r in rows]
                                                 for layer in layers}) if layers else {})
    return found


def _layer_order(name: str) -> tuple[int, str]:
    """Input layers first, the head last (``Dense_2`` before ``Dense_10``)."""
    head, _, number = name.rpartition("_")
    return (int(number), head) if number.isdigit() else (10**6, name)


@experiment("habits", claim="overfitting a small subset first catches a broken pipeline; per-layer gradient norms "
                            "flag a stalled layer",
            source="SPEC §7; Karpathy 2019, A Recipe for Training Neural Networks; Glorot & Bengio 2010, "
                   "Understanding the difficulty of training deep feedforward neural networks")
def run(options: Options) -> Result:
    sizes, max_steps, depth, steps = grid(options)
    seeds = options.seed_list(5)
    checks = overfit(options, sizes, max_steps, seeds)
    cfg = base_config(options, steps, log_every=2 if options.smoke else LOG_EVERY)
    cfg.model = {"name": "mlp", "widths": [WIDTH] * depth, "activation": "relu", "init": "kaiming_normal"}
    cfg.optimizer = f"momentum(learning_rate='cosine(init_value={RATE})', momentum=0.9)"
    cfg.train_metrics = ["loss", "accuracy", "grad_norm"]
    trained = train_arms(cfg, networks(depth), seeds, options.workdir / "networks")
    stalled = {name: stalls(runs) for name, runs in trained.items()}

    rows, numbers = [], {"overfit": {}, "gradients": {}}
    for (pipeline, size), results in checks.items():
        passed = sum(r.reached for r in results)
        fit = [r.steps_to_fit for r in results if r.reached]
        rows.append([f"overfit check, {size} examples", pipeline, f"PASS {passed} of {len(results)}",
                     f"{np.mean(fit):.0f} steps to 100%" if fit else
                     f"best {max(float(r.accuracies.max()) for r in results):.1%} in {max_steps} steps"])
        numbers["overfit"][f"{pipeline}, {size}"] = {
            "reached": [r.reached for r in results], "steps_to_fit": [r.steps_to_fit for r in results],
            "best_accuracy": [float(r.accuracies.max()) for r in results]}
    for name, runs in trained.items():
        flagged = stalled[name]
        layers = sorted({layer for found in flagged for layer in found}, key=_layer_order)
        rows.append([f"gradient norms, {depth} layers", name,
                     f"stalled in {sum(bool(f) for f in flagged)} of {len(flagged)}",
                     (f"{', '.join(layers)}; " if layers else "no layer; ")
                     + f"test acc. (%) {cell(runs.final(), runs.diverged, scale=100)}"])
        numbers["gradients"][name] = {"stalled": flagged, "test_accuracy": runs.final(), "diverged": runs.diverged}
    verdict, reading = judge(checks, stalled, sizes[0])
    curves = {}
    for name, runs in trained.items():
        for layer in ("Dense_0", f"Dense_{depth // 2 - 1}", "head"):  # (the middle one is frozen in one arm)
            key = f"train/grad_norm/{layer}"
            curves[f"{name}: {layer}"] = runs.curve(key)
    return Result(columns=["check", "arm", "outcome", "detail"], rows=rows, verdict=verdict,
                  reading=reading + f" {len(seeds)} seeds per arm.", published=PUBLISHED, numbers=numbers,
                  curves=overfit_curves(checks, max_steps),
                  curve_label="overfit check: training accuracy",
                  plots={"grad_norms": Panels(curves, "gradient norm (per layer)", log_y=True)},
                  reused=reuse(trained))


def overfit_curves(checks: dict[tuple[str, int], list], max_steps: int) -> dict[str, tuple[list, list]]:
    """Each (pipeline, size)'s training accuracy per step over the seeds, NaN after a check
    stopped (it stops at 100%).

    Examples:
        >>> from types import SimpleNamespace as Check
        >>> curves = overfit_curves({("healthy", 64): [Check(accuracies=np.array([0.5, 1.0]))]}, max_steps=3)
        >>> curves["overfit, healthy, 64 examples"]
        ([1, 2, 3], [[0.5, 1.0, nan]])
    """
    return {f"overfit, {pipeline}, {size} examples": (
        list(range(1, max_steps + 1)),
        [[float(v) for v in r.accuracies] + [float("nan")] * (max_steps - len(r.accuracies)) for r in results])
        for (pipeline, size), results in checks.items()}


def judge(checks: dict[tuple[str, int], list], stalled: dict[str, list[dict]], size: int) -> tuple[str, str]:
    """The verdict by the module's rule, and the reading."""
    def passes(pipeline: str, at: int = size) -> int:
        return sum(r.reached for r in checks[pipeline, at])

    seeds = len(checks["healthy", size])
    first = passes("healthy") == seeds and passes("shuffled labels") == 0
    second = not any(stalled["healthy"]) and all(stalled["vanishing"])
    verdict = "reproduced" if first and second else "mixed" if first or second else "not reproduced"
    sizes = sorted({s for _, s in checks})
    overfit = "; ".join(f"{size_} examples: " + ", ".join(f"{p} {passes(p, size_)}/{seeds}" for p in PIPELINES)
                        for size_ in sizes)
    reading = (f"Overfit check passes ({overfit}): the broken label map is "
               f"{'caught' if first else 'not caught'} at the default {size} examples. Stalled layers named in "
               + ", ".join(f"{name} {sum(bool(f) for f in found)}/{len(found)}" for name, found in stalled.items())
               + f" runs; the gradient check {'holds' if second else 'does not hold'}: {verdict}. A consistent wrong "
               f"label map passes the check ({passes('labels off by one')}/{seeds}), and a frozen layer keeps its "
               f"gradients (named in {sum(bool(f) for f in stalled['frozen'])} of {len(stalled['frozen'])} runs): "
               "what neither check can see.")
    return verdict, reading
