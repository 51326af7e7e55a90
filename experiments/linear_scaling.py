"""The linear scaling rule (Goyal et al. 2017): multiply the batch size by k and the
learning rate by k (with a gradual warmup), and the accuracy of the same number of epochs
stays that of the small batch, up to some batch size where it breaks down; without
scaling the rate, larger batches lose accuracy.

Arms: the 2 x 100 ReLU MLP on MNIST-1D (3600 training examples), SGD with momentum 0.9,
``EPOCHS`` epochs at every batch size, a linear warmup over the first ``WARMUP_EPOCHS``
epochs then a cosine decay. The base batch ``BASE`` trains at its best rate from
``BASE_RATES`` (chosen on validation); every larger batch b trains at that rate times
b / ``BASE`` (*scaled*) and at that rate unchanged (*unscaled*).

The verdict's rule, with a tolerance of the larger of 1 point and the base batch's std:
a batch size *holds* where its scaled arm's mean test accuracy is within the tolerance
of the base batch's. *Reproduced* where some batch size of at least 4x the base holds
while its unscaled arm falls below the tolerance; *mixed* where some larger batch holds
(or scaling beats not scaling beyond the tolerance) without that; *not reproduced*
otherwise. The reading names the largest batch size that holds (where the rule breaks).

Command:
  tricks experiments run linear_scaling [--seeds N]
  tricks experiments run linear_scaling --smoke          (seconds, for tests)

Result (session 11, 2 CPU cores, 5 seeds, 0.7 min): reproduced up to 8x the base batch.
Base batch 32 at rate 0.1: 64.88 ± 1.33%; scaled, 64.52 ± 0.96% at batch 256; at 512
(rate 1.6) 2 of 5 runs diverge, at 1024 all do; unscaled the accuracy falls to 48.22 ±
2.06% at 1024. The full table: ``experiments/results/linear_scaling/table.md``.
"""

from __future__ import annotations

import math

from experiments._registry import experiment
from experiments._study import Options, Panels, Result, Runs, best, cell, reuse, spread, train_arms
from experiments.optimizers import base_config

PUBLISHED = ("Goyal et al. 2017 (ImageNet, ResNet-50, 90 epochs, base 0.1 per 256 examples, 5 epochs of warmup): "
             "23.60 ± 0.12% top-1 error at batch 256 and 23.74 ± 0.09% at 8k with the rate scaled; the error "
             "rises beyond 8k (24.8% at 16k, 27.7% at 32k, 34.3% at 64k)")

BASE = 32
BASE_RATES = [0.003, 0.01, 0.03, 0.1, 0.3]
"""Extended upwards twice, after 0.03 and then 0.1 came out best at the top of the grid."""
BATCHES = [32, 64, 128, 256, 512, 1024]
EPOCHS = 40
WARMUP_EPOCHS = 5


def grid(options: Options) -> tuple[list[int], list[float], int]:
    """The batch sizes, the base batch's rates and the epochs."""
    if options.smoke:
        return [BASE, 4 * BASE], BASE_RATES[1:3], 1
    return BATCHES, BASE_RATES, EPOCHS


def optimizer(rate: float, warmup_steps: int) -> str:
    """The optimizer override of one arm.

    Examples:
        >>> optimizer(0.1, 20)
        "optimizer=momentum(learning_rate='warmup(cosine(init_value=0.1), warmup_steps=20)', momentum=0.9)"
    """
    schedule = f"warmup(cosine(init_value={rate:g}), warmup_steps={warmup_steps})"
    return f"optimizer=momentum(learning_rate={schedule!r}, momentum=0.9)"


@experiment("linear_scaling", claim="scaling the rate with the batch size (plus warmup) keeps the accuracy up to "
                                    "some batch size; not scaling it loses accuracy",
            source="Goyal et al. 2017, Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour, table 2 and "
                   "figure 1")
def run(options: Options) -> Result:
    import registry

    batches, rates, epochs = grid(options)
    seeds = options.seed_list(5)
    probe = base_config(options, 1)
    examples = registry.build("dataset", probe.dataset).split_sizes["train"]

    def trained(batch: int, arms: dict[str, float]) -> dict[str, Runs]:
        per_epoch = examples // batch
        steps = epochs * per_epoch
        cfg = base_config(options, steps, log_every=max(2, steps // 30))
        cfg.batch_size = batch
        warmup = max(1, min(WARMUP_EPOCHS * per_epoch, steps // 2))
        overrides = {name: [optimizer(rate, warmup)] for name, rate in arms.items()}
        return train_arms(cfg, overrides, seeds, options.workdir / f"batch_{batch}")

    found = trained(BASE, {f"batch {BASE}, rate {r:g}": r for r in rates})
    base_arm = best(found, list(found))
    base_rate = rates[list(found).index(base_arm)]
    for batch in batches[1:]:
        found |= trained(batch, {f"batch {batch}, scaled": base_rate * batch / BASE,
                                 f"batch {batch}, unscaled": base_rate})
    scaled = {BASE: found[base_arm]} | {b: found[f"batch {b}, scaled"] for b in batches[1:]}
    unscaled = {BASE: found[base_arm]} | {b: found[f"batch {b}, unscaled"] for b in batches[1:]}
    rows = [[str(b), f"{base_rate * b / BASE:g}", cell(scaled[b].final(), scaled[b].diverged, scale=100),
             cell(unscaled[b].final(), unscaled[b].diverged, scale=100)] for b in batches]
    numbers = {name: {"test_accuracy": runs.final(), "validation_accuracy": runs.final("validation"),
                      "diverged": runs.diverged} for name, runs in found.items()}
    verdict, reading = judge(scaled, unscaled, batches)
    by_batch = Panels({arm: (batches, [[100 * runs[b].final()[i] for b in batches] for i in range(len(seeds))])
                       for arm, runs in (("rate scaled", scaled), ("rate unscaled", unscaled))},
                      "test accuracy (%)", x_label="batch size", log_x=True)
    return Result(columns=["batch", "scaled rate", "scaled: test acc. (%)", f"unscaled ({base_rate:g}): test acc. (%)"],
                  rows=rows, verdict=verdict,
                  reading=reading + f" Base rate {base_rate:g} at batch {BASE} (best of {rates} on validation"
                                    f"{', at an edge of the grid' if base_rate in (rates[0], rates[-1]) else ''}); "
                                    f"{epochs} epochs, warmup {WARMUP_EPOCHS} epochs; {len(seeds)} seeds per cell.",
                  published=PUBLISHED, numbers=numbers,
                  curves={f"batch {b}, scaled": scaled[b].curve("train/loss") for b in batches}, log_y=True,
                  plots={"accuracy_by_batch": by_batch}, reused=reuse(found))


def judge(scaled: dict[int, Runs], unscaled: dict[int, Runs], batches: list[int]) -> tuple[str, str]:
    """The verdict by the module's rule, and the reading."""
    def stats(runs: Runs) -> tuple[float, float]:  # (every run diverged: below any accuracy)
        mean, std = spread(runs.surviving(), scale=100)
        return (-math.inf if math.isnan(mean) else mean), std

    base, base_std = stats(scaled[BASE])
    tolerance = max(1.0, base_std)
    holds = [b for b in batches[1:] if stats(scaled[b])[0] >= base - tolerance]
    loses = [b for b in batches[1:] if stats(unscaled[b])[0] < base - tolerance]
    helps = [b for b in batches[1:] if stats(scaled[b])[0] > stats(unscaled[b])[0] + tolerance]
    shown = [b for b in holds if b >= 4 * BASE and b in loses]
    verdict = "reproduced" if shown else "mixed" if holds or helps else "not reproduced"
    broken = [b for b in batches[1:] if b not in holds]
    held = f"batch {', '.join(map(str, holds))}" if holds else "no larger batch"
    breaks = f" and breaks at {', '.join(map(str, broken))}" if broken else ""
    reading = (f"Base batch {BASE}: {cell(scaled[BASE].final(), scaled[BASE].diverged, scale=100)}% (tolerance "
               f"{tolerance:.2f} points). With the rate scaled, the accuracy holds at {held}{breaks}; without scaling "
               f"it falls below the tolerance at {', '.join(map(str, loses)) or 'no batch'}; "
               f"scaling beats not scaling at {', '.join(map(str, helps)) or 'no batch'}: {verdict}.")
    return verdict, reading
