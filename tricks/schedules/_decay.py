"""Decays: exponential, natural_exp, inverse_time, inverse_sqrt, noam, polynomial, cosine."""

from __future__ import annotations

import jax.numpy as jnp

import registry
from tricks.schedules import _core
from tricks.schedules._core import Fn, as_float
from tricks.schedules._length import RunSteps, required


def _progress(count, decay_steps: int, staircase: bool):
    t = as_float(count)
    return _core.divmod_steps(t, decay_steps)[0] if staircase else t / decay_steps


@registry.register("schedule", "exponential")
def exponential(
    init_value: float, decay_steps: int, decay_rate: float, staircase: bool = False, transition_begin: int = 0,
    end_value: float | None = None,
) -> Fn:
    """``init_value * decay_rate ** (t / decay_steps)``: Keras ``ExponentialDecay``.

    With `transition_begin` b, the value is `init_value` up to step b and the curve runs
    from there, on ``t - b``; with `end_value`, the value is clipped there: a floor when
    the value decays (``decay_rate < 1``), a ceiling when it grows. Both as
    ``optax.exponential_decay``.

    Args:
        init_value: the value at step 0.
        decay_steps: k, the steps over which the value is multiplied by `decay_rate` (> 0).
        decay_rate: β, the factor per `decay_steps` steps (>= 0).
        staircase: floor ``t / k``, so the value drops in steps.
        transition_begin: b, the steps held at `init_value` first (>= 0).
        end_value: the bound the value stops at, if any.

    Examples:
        >>> exponential(1.0, decay_steps=2, decay_rate=0.25)(jnp.arange(4))
        Array([1.   , 0.5  , 0.25 , 0.125], dtype=float32)
        >>> exponential(1.0, decay_steps=2, decay_rate=0.25, staircase=True)(jnp.arange(4))
        Array([1.  , 1.  , 0.25, 0.25], dtype=float32)
        >>> exponential(1.0, decay_steps=2, decay_rate=0.25, transition_begin=1, end_value=0.3)(jnp.arange(5))
        Array([1. , 1. , 0.5, 0.3, 0.3], dtype=float32)
    """
    decay_steps = _core.positive(decay_steps, "decay_steps")
    _core.non_negative(decay_rate, "decay_rate")
    begin = _core.non_negative(transition_begin, "transition_begin")
    if end_value is not None:
        _core.finite(end_value, "end_value")
    clip = jnp.maximum if decay_rate < 1.0 else jnp.minimum

    def schedule(count):
        t = jnp.maximum(as_float(count) - begin, 0.0)
        value = init_value * jnp.power(decay_rate, _progress(t, decay_steps, staircase))
        return value if end_value is None else clip(value, end_value)

    return schedule


@registry.register("schedule", "natural_exp")
def natural_exp(init_value: float, decay_steps: int, decay_rate: float, staircase: bool = False) -> Fn:
    """``init_value * exp(-decay_rate * t / decay_steps)``; `staircase` floors ``t / decay_steps``.

    The same curve as `exponential` with ``decay_rate = exp(-β)``, written with the rate in
    the exponent (TensorFlow 1's ``natural_exp_decay``).

    Args:
        init_value: the value at step 0.
        decay_steps: k (> 0).
        decay_rate: β (>= 0): the value is divided by e every ``k / β`` steps.
        staircase: floor ``t / k``.

    Examples:
        >>> natural_exp(1.0, decay_steps=1, decay_rate=float(jnp.log(2.0)))(jnp.arange(3))
        Array([1.  , 0.5 , 0.25], dtype=float32)
    """
    decay_steps = _core.positive(decay_steps, "decay_steps")
    _core.non_negative(decay_rate, "decay_rate")

    def schedule(count):
        return init_value * jnp.exp(-decay_rate * _progress(count, decay_steps, staircase))

    return schedule


@registry.register("schedule", "inverse_time")
def inverse_time(init_value: float, decay_steps: int, decay_rate: float, staircase: bool = False) -> Fn:
    """``init_value / (1 + decay_rate * t / decay_steps)``: Keras ``InverseTimeDecay``.

    Args:
        init_value: the value at step 0.
        decay_steps: k (> 0).
        decay_rate: β (>= 0).
        staircase: floor ``t / k``.

    Examples:
        >>> inverse_time(1.0, decay_steps=2, decay_rate=1.0)(jnp.arange(5))
        Array([1.        , 0.6666667 , 0.5       , 0.4       , 0.33333334], dtype=float32)
    """
    decay_steps = _core.positive(decay_steps, "decay_steps")
    _core.non_negative(decay_rate, "decay_rate")

    def schedule(count):
        return init_value / (1.0 + decay_rate * _progress(count, decay_steps, staircase))

    return schedule


@registry.register("schedule", "inverse_sqrt")
def inverse_sqrt(init_value: float, warmup_steps: int = 0) -> Fn:
    """Decay as ``1/sqrt(t)`` (Adam's ``α_t = α / sqrt(t)``), after an optional linear warmup.

    With n = t + 1 (the step counted from 1) and w = `warmup_steps`:
    ``value = init_value * n / w`` while ``n <= w``, then ``init_value * sqrt(w / n)``;
    with ``w = 0``, ``init_value / sqrt(n)``. The peak `init_value` is reached at n = w
    (the fairseq ``inverse_sqrt`` schedule). `noam` is this curve with
    ``init_value = scale * (d_model * w) ** -0.5``.

    Args:
        init_value: the value at n = 1 without warmup, the peak with one.
        warmup_steps: w (>= 0).

    Examples:
        >>> inverse_sqrt(1.0)(jnp.array([0, 3, 99]))
        Array([1. , 0.5, 0.1], dtype=float32)
        >>> inverse_sqrt(1.0, warmup_steps=4)(jnp.array([0, 3, 15]))
        Array([0.25, 1.  , 0.5 ], dtype=float32)
    """
    warmup_steps = _core.non_negative(warmup_steps, "warmup_steps")

    def schedule(count):
        n = as_float(count) + 1.0
        if warmup_steps == 0:
            return init_value * jnp.sqrt(1.0 / n)
        return init_value * jnp.minimum(n / warmup_steps, jnp.sqrt(warmup_steps / n))

    return schedule


@registry.register("schedule", "noam")
def noam(d_model: int, warmup_steps: int, scale: float = 1.0) -> Fn:
    """The Transformer's rate: ``scale * d_model**-0.5 * min(n**-0.5, n * w**-1.5)``, n = t + 1.

    Linear warmup for w = `warmup_steps` steps, then decay as ``1/sqrt(n)`` ("Attention Is
    All You Need", Vaswani et al. 2017, eq. 3, with the step counted from 1).

    Args:
        d_model: the model width (> 0).
        warmup_steps: w (> 0).
        scale: a factor on the whole curve.

    Examples:
        >>> noam(d_model=64, warmup_steps=4)(jnp.array([0, 3, 15]))
        Array([0.015625, 0.0625  , 0.03125 ], dtype=float32)
    """
    _core.positive(d_model, "d_model")
    warmup_steps = _core.positive(warmup_steps, "warmup_steps")
    factor = scale * d_model**-0.5

    def schedule(count):
        n = as_float(count) + 1.0
        return factor * jnp.minimum(jnp.sqrt(1.0 / n), n * warmup_steps**-1.5)

    return schedule


@registry.register("schedule", "polynomial")
def polynomial(
    init_value: float, decay_steps: RunSteps = None, end_value: float = 0.0001, power: float = 1.0,
    cycle: bool = False, transition_begin: int = 0,
) -> Fn:
    """``(init - end) * (1 - t / T) ** power + end``: Keras ``PolynomialDecay``.

    Without `cycle`, t is capped at T = `decay_steps` and the value stays at `end_value`.
    With `cycle`, T grows to the first multiple of `decay_steps` that is >= t (1 at t = 0),
    so the value jumps back up at each multiple and decays again, each time more slowly.
    With `transition_begin` b, the value is `init_value` up to step b and the curve runs on
    ``t - b`` (``optax.polynomial_schedule``; a run's length fills T as the run minus b).

    Args:
        init_value: the value at step 0.
        decay_steps: T (> 0).
        end_value: the value at T.
        power: the exponent (1 = linear).
        cycle: restart after T with T multiplied.
        transition_begin: b, the steps held at `init_value` first (>= 0).

    Examples:
        >>> polynomial(1.0, decay_steps=4, end_value=0.0)(jnp.arange(6))
        Array([1.  , 0.75, 0.5 , 0.25, 0.  , 0.  ], dtype=float32)
        >>> polynomial(1.0, decay_steps=2, end_value=0.0, cycle=True)(jnp.arange(5))
        Array([1.  , 0.5 , 0.  , 0.25, 0.  ], dtype=float32)
    """
    decay_steps = _core.positive(required(decay_steps, "decay_steps"), "decay_steps")
    _core.non_negative(power, "power")
    begin = _core.non_negative(transition_begin, "transition_begin")

    def schedule(count):
        t = jnp.maximum(as_float(count) - begin, 0.0)
        if cycle:
            done, into = _core.divmod_steps(t, decay_steps)
            multiple = jnp.maximum(done + (into > 0), 1.0)  # ceil(t / T), and 1 at t = 0
            # Clipped: in float32 past 2**24, multiple * decay_steps is rounded and may fall below t.
            remaining = jnp.clip((multiple * decay_steps - t) / (multiple * decay_steps), 0.0, 1.0)
        else:
            remaining = (decay_steps - jnp.minimum(t, decay_steps)) / decay_steps
        return (init_value - end_value) * jnp.power(remaining, power) + end_value

    return schedule


@registry.register("schedule", "cosine")
def cosine(init_value: float, decay_steps: RunSteps = None, alpha: float = 0.0, k_decay: float = 1.0) -> Fn:
    """Half a cosine from `init_value` down to ``alpha * init_value``: Keras ``CosineDecay``.

    ``value(t) = init * ((1 - alpha) * (1 + cos(pi * min(t, T) / T)) / 2 + alpha)``, T =
    `decay_steps`. For a warmup first, wrap it: ``warmup(cosine(...), warmup_steps=...)``
    gives Keras' ``CosineDecay(warmup_target=..., warmup_steps=...)``; for Optax-style
    ``transition_begin`` b, ``warmup(cosine(...), warmup_steps=b, init_value=init, mode="constant")``.

    `k_decay` = k puts ``(t / T) ** k`` in place of ``t / T`` (Zhang & Li 2020, "k-decay",
    as timm ``CosineLRScheduler(k_decay=k)`` with ``lr_min = alpha * init``): k > 1 keeps
    the value high longer, k < 1 drops it sooner; the ends are the same.

    Args:
        init_value: the value at step 0.
        decay_steps: T (> 0).
        alpha: the final value as a fraction of `init_value`.
        k_decay: k (> 0).

    Examples:
        >>> [round(v, 4) for v in cosine(1.0, decay_steps=4, alpha=0.1)(jnp.arange(6)).tolist()]
        [1.0, 0.8682, 0.55, 0.2318, 0.1, 0.1]
        >>> [round(v, 4) for v in cosine(1.0, decay_steps=4, k_decay=2.0)(jnp.arange(6)).tolist()]
        [1.0, 0.9904, 0.8536, 0.4025, 0.0, 0.0]
    """
    decay_steps = _core.positive(required(decay_steps, "decay_steps"), "decay_steps")
    k_decay = _core.positive(k_decay, "k_decay")
    _core.finite(k_decay, "k_decay")

    def schedule(count):
        remaining = (decay_steps - jnp.minimum(as_float(count), decay_steps)) / decay_steps
        if k_decay != 1.0:  # 1 - (1 - remaining) ** k, exact near the end
            remaining = -jnp.expm1(k_decay * jnp.log1p(-remaining))
        return init_value * ((1.0 - alpha) * _core.half_cosine(remaining) + alpha)

    return schedule
