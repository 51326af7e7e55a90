"""Warmup-stable-decay (WSD): a linear warmup, a long constant phase, a short final decay."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

import registry
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._length import RunSteps, required

DecayShape = Literal["linear", "cosine", "sqrt", "square", "mirror_cosine", "exponential"]
SHAPES = ("linear", "cosine", "sqrt", "square", "mirror_cosine", "exponential")


@registry.register("schedule", "wsd")
def wsd(
    peak_value: float,
    total_steps: RunSteps = None,
    warmup_steps: int = 0,
    decay_fraction: float = 0.2,
    decay_shape: DecayShape = "sqrt",
    init_value: float = 0.0,
    end_value: float = 0.0,
) -> Fn:
    """Warmup, stable, decay: up to `peak_value`, held there, then down to `end_value` at the end.

    The constant rate with a short cooldown of MiniCPM (Hu et al. 2024) and of Hägele et
    al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"
    (their code: epfml/schedules-and-scaling, ``src/optim/utils.py``, ``wsd_schedule``).
    With N = `total_steps`, W = `warmup_steps`, D = ``round(decay_fraction * N)`` decay
    steps starting at S = N - D, and p = ``(t - S) / D`` clipped to [0, 1]:

      * t < W: ``init + (peak - init) * t / W`` (the paper's ``init_div_factor`` is
        ``peak / init``);
      * W <= t < S: ``peak``;
      * t >= S: ``end + (peak - end) * f(p)``, which is `end_value` from t = N on, with f:

        - ``linear``: ``1 - p``;
        - ``cosine``: ``(1 + cos(pi p)) / 2``;
        - ``sqrt``: ``1 - sqrt(p)``, the paper's "(1-sqrt)" cooldown, its best one (the default);
        - ``square``: ``1 - p**2``;
        - ``mirror_cosine``: ``2 (1 - p) - (1 + cos(pi p)) / 2``, the cosine mirrored about the line;
        - ``exponential``: the value is ``peak * (end / peak) ** p`` (MiniCPM's exponential
          decay, reaching `end_value`; needs both > 0).

    The decay is a fraction of the run rather than a number of steps, so a run whose
    length is filled from the training config (`fit_to_run`) keeps its proportions.

    Args:
        peak_value: the value after the warmup, held until the decay.
        total_steps: N, the run's length (> 0); the value is `end_value` from N on.
        warmup_steps: W (>= 0), at most S: the warmup ends before the decay starts.
        decay_fraction: D / N, in (0, 1]; D is rounded to whole steps and must be >= 1.
        decay_shape: f, one of the shapes above.
        init_value: the value at step 0.
        end_value: the value at step N and after.

    Examples:
        >>> s = wsd(1.0, total_steps=10, warmup_steps=2, decay_fraction=0.4, decay_shape="linear")
        >>> s(jnp.arange(12)).tolist()
        [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
        >>> s = wsd(1.0, total_steps=8, decay_fraction=0.5, decay_shape="sqrt")
        >>> [round(v, 4) for v in s(jnp.arange(4, 9)).tolist()]
        [1.0, 0.5, 0.2929, 0.134, 0.0]
    """
    total = _core.positive(required(total_steps, "total_steps"), "total_steps")
    warmup = _core.non_negative(warmup_steps, "warmup_steps")
    _core.one_of(decay_shape, SHAPES, "decay_shape")
    if not 0.0 < decay_fraction <= 1.0:
        raise registry.RegistryError(f"must be in (0, 1], got {decay_fraction!r}", argument="decay_fraction")
    decay = float(round(decay_fraction * total))
    if decay < 1:
        raise registry.RegistryError(
            f"{decay_fraction!r} of {total_steps} steps rounds to no decay step", argument="decay_fraction"
        )
    start = total - decay
    if warmup > start:
        raise registry.RegistryError(
            f"the warmup must end by the decay's first step {start:g} (N - D); got {warmup_steps}",
            argument="warmup_steps",
        )
    if decay_shape == "exponential":
        _core.positive(peak_value, "peak_value")
        _core.positive(end_value, "end_value")

    def schedule(count):
        t = as_float(count)
        p = jnp.clip((t - start) / decay, 0.0, 1.0)
        remaining = jnp.clip((total - t) / decay, 0.0, 1.0)  # 1 - p, exact near the end
        if decay_shape == "exponential":
            decayed = peak_value * jnp.power(end_value / peak_value, p)
        else:
            if decay_shape == "linear":
                f = remaining
            elif decay_shape == "cosine":
                f = _core.half_cosine(remaining)
            elif decay_shape == "sqrt":
                f = 1.0 - jnp.sqrt(p)
            elif decay_shape == "square":
                f = remaining * (1.0 + p)
            else:  # mirror_cosine
                f = 2.0 * remaining - _core.half_cosine(remaining)
            decayed = end_value + (peak_value - end_value) * f
        value = jnp.where(t < start, peak_value, decayed)
        if warmup > 0:
            value = jnp.where(t < warmup, init_value + (peak_value - init_value) * (t / warmup), value)
        return value

    return schedule
