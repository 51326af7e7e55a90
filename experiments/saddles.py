"""Saddles vs minima (SPEC §7; Dauphin et al. 2014; Sagun et al. 2017): early in training
the loss surface around the parameters has many directions of negative curvature (a
saddle-like region: a low minimum ratio, the share of positive Hessian eigenvalues);
at the end of training it is close to a minimum (a ratio near 1, what negative curvature
is left tiny next to the top eigenvalue).

Arms: one small model whose Hessian is computed exactly: a 64-32-10 ReLU MLP (2410
parameters) on scikit-learn's digits, SGD with momentum 0.9 and a cosine decay from
0.05 over ``STEPS`` steps (batch 128), ``SEEDS`` seeds. At its initialization and at the
checkpoints of ``POINTS``, the full Hessian of the training loss over 1024 training
examples (the same for every run and step, `experiments._landscape`) and all its
eigenvalues. An eigenvalue with ``|λ| <= 1e-5 λ_max`` counts as zero (the flat
directions of dead units) and is left out of the ratio.

The verdict's rule: *the index falls with the loss* (Dauphin et al.'s claim): over the
checkpoints, the rank correlation (Spearman) between the mean training loss and the mean
share of negative eigenvalues is at least 0.8; *near a minimum*: at the end the most
negative eigenvalue is smaller in size than 1% of the top one, in every seed. Both:
*reproduced*; one: *mixed*; neither: *not reproduced*. (The first run judged the first
part by the minimum ratio at the end against step 10 alone: it rose from 0.820 ±
0.012 to 0.839 ± 0.010, past the spread by 0.007, while the negative share rose from 0.18
to 0.21 in between as the loss fell from 1.9 to 0.49; two points said "reproduced" of a
relation the whole curve does not show, so the rule now reads the whole curve.)

Command:
  tricks experiments run saddles [--seeds N]
  tricks experiments run saddles --smoke          (seconds, for tests)

Result (session 11, 2 CPU cores, 5 seeds, 2.9 min): mixed. The share of negative
eigenvalues is 0.18 at initialization, 0.21 at step 100 and 0.16 at the end (rank
correlation with the loss 0.43), while their size shrinks from -0.15 to -0.0017 of the
top eigenvalue: near a minimum at the end in Sagun et al.'s sense, but the count of
negative directions does not fall with the loss. The full table:
``experiments/results/saddles/table.md``.
"""

from __future__ import annotations

import numpy as np

from experiments._landscape import landscape
from experiments._registry import experiment
from experiments._study import Options, Panels, Result, cell, reuse, spread, train_arms

PUBLISHED = ("Dauphin et al. 2014 (MNIST, CIFAR-10 MLPs): the index of critical points (share of negative "
             "eigenvalues) falls with their training error, from saddles of high error to near-minima of low "
             "error; Sagun et al. 2017: at the end of training the spectrum is a bulk near zero, a few large "
             "positive outliers and small negative eigenvalues")

STEPS = 2000
POINTS = [0, 10, 30, 100, 300, 1000, STEPS]
ZERO = 1e-5
"""Eigenvalues within ZERO x the top one count as zero (left out of the minimum ratio)."""


def grid(options: Options) -> tuple[int, list[int]]:
    """The steps of each run and the points where the Hessian is taken."""
    if options.smoke:
        return 4, [0, 2, 4]
    return STEPS, POINTS


def base_config(options: Options, steps: int):
    """The small model and its training (digits, `experiments/configs/digits.py`, changed)."""
    from tricks import config as config_lib
    from experiments.baselines import CONFIGS

    cfg = config_lib.load(str(CONFIGS / "digits.py"), [])
    cfg.model = "mlp(widths=(8,))" if options.smoke else "mlp(widths=(32,))"  # (smoke: 610 parameters)
    cfg.optimizer = "momentum(learning_rate='cosine(init_value=0.05)', momentum=0.9)"
    cfg.num_steps, cfg.num_epochs, cfg.progress = steps, 0, False
    cfg.eval_every, cfg.log_every = steps, 2 if options.smoke else 10
    cfg.checkpoint_every, cfg.keep, cfg.histogram_every = 2 if options.smoke else 10, 1000, 0
    cfg.train_metrics = ["loss", "accuracy"]
    return cfg


def measure(spectrum: np.ndarray) -> dict[str, float]:
    """The minimum ratio, the share of negative eigenvalues and the most negative one
    over the top one, of an ascending spectrum.

    Examples:
        >>> measure(np.array([-0.5, 0.0, 1e-7, 1.0, 2.0, 4.0]))
        {'ratio': 0.75, 'negative': 0.25, 'lowest_over_top': -0.125, 'top': 4.0}
    """
    top = float(spectrum[-1])
    counted = spectrum[np.abs(spectrum) > ZERO * abs(top)]
    return {"ratio": float(np.mean(counted > 0)), "negative": float(np.mean(counted < 0)),
            "lowest_over_top": float(spectrum[0] / top), "top": top}


@experiment("saddles", claim="early in training the Hessian has many negative eigenvalues (a saddle region); at "
                             "the end it is near a minimum",
            source="Dauphin et al. 2014, Identifying and attacking the saddle point problem in high-dimensional "
                   "non-convex optimization, figure 1; Sagun et al. 2017, Empirical Analysis of the Hessian of "
                   "Over-Parametrized Neural Networks")
def run(options: Options) -> Result:
    steps, points = grid(options)
    seeds = options.seed_list(5)
    found = train_arms(base_config(options, steps), {"small MLP": []}, seeds, options.workdir)
    runs = found["small MLP"]
    spectra: dict[int, list[np.ndarray]] = {p: [] for p in points}
    losses: dict[int, list[float]] = {p: [] for p in points}
    for workdir in runs.workdirs:
        for point in points:
            taken = landscape(workdir, point)
            spectra[point].append(taken.spectrum())
            losses[point].append(taken.loss)
    measured = {p: [measure(s) for s in spectra[p]] for p in points}
    rows = [[str(p), cell(losses[p], digits=3), *(cell([m[key] for m in measured[p]], digits=digits)
                                                  for key, digits in (("ratio", 3), ("negative", 3),
                                                                      ("lowest_over_top", 4), ("top", 2)))]
            for p in points]
    numbers = {str(p): {"loss": losses[p], "measures": measured[p]} for p in points}
    verdict, reading = judge(measured, losses, points)
    n = len(spectra[points[0]][0])
    ranks = [i / n for i in range(n)]
    sorted_spectra = Panels({f"step {p}": (ranks, [s.tolist() for s in spectra[p]]) for p in points},
                            "Hessian eigenvalue", x_label="rank (share of eigenvalues, ascending)", symlog=1e-3)
    return Result(columns=["step", "training loss", "minimum ratio", "negative share", "λ_min / λ_max", "λ_max"],
                  rows=rows, verdict=verdict,
                  reading=reading + f" {len(seeds)} seeds, {n} parameters, exact spectra.",
                  published=PUBLISHED, numbers=numbers, curves={"small MLP": runs.curve("train/loss")}, log_y=True,
                  plots={"spectra": sorted_spectra}, reused=reuse(found))


def judge(measured: dict[int, list[dict]], losses: dict[int, list[float]], points: list[int]) -> tuple[str, str]:
    """The verdict by the module's rule, and the reading."""
    end = points[-1]

    def stats(point: int, key: str) -> tuple[float, float]:
        return spread([m[key] for m in measured[point]])

    loss = [spread(losses[p])[0] for p in points]
    negative = [stats(p, "negative")[0] for p in points]
    correlation = spearman(loss, negative)
    falls = correlation >= 0.8
    near = all(abs(m["lowest_over_top"]) < 0.01 for m in measured[end])
    verdict = "reproduced" if falls and near else "mixed" if falls or near else "not reproduced"
    trend = "; ".join(f"step {p}: loss {a:.3f}, negative share {b:.3f}, λ_min / λ_max "
                      f"{stats(p, 'lowest_over_top')[0]:.4f}" for p, a, b in zip(points, loss, negative, strict=True))
    reading = (f"Over training: {trend}. Rank correlation of the loss and the negative share: {correlation:.2f} "
               f"(the index falls with the loss: {'yes' if falls else 'no'}). At the end the most negative "
               f"eigenvalue is {stats(end, 'lowest_over_top')[0]:.2e} of the top one (near a minimum, every seed "
               f"under 1%: {'yes' if near else 'no'}): {verdict}.")
    return verdict, reading


def spearman(a: list[float], b: list[float]) -> float:
    """The rank correlation of `a` and `b` (no ties expected; NaN with fewer than 3 points).

    Examples:
        >>> spearman([3.0, 2.0, 1.0], [0.3, 0.2, 0.25])
        0.5
    """
    if len(a) < 3:
        return float("nan")
    ranks = [np.argsort(np.argsort(np.asarray(x, float))) for x in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])
