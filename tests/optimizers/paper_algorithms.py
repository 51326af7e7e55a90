"""NumPy transcriptions of SWATS and AdaBound/AMSBound, line by line from their papers.

They work on one flat float64 vector and a gradient function, with nothing shared with
`tricks.optimizers`, so the tests can compare the two step by step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def swats(
    grad: Callable[[np.ndarray], np.ndarray],
    w0: np.ndarray,
    steps: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-9,
    switch_eps: float = 1e-9,
) -> list[dict]:
    """Keskar & Socher 2017, "Improving Generalization Performance by Switching from Adam to
    SGD", Algorithm 1 (one ε in the paper: here ``eps`` in Adam's denominator and
    ``switch_eps`` in the switching test).

    Returns, after each step k = 1..steps, the iterate and the switching quantities.
    """
    w = w0.astype(np.float64).copy()
    m = np.zeros_like(w)  # first moment
    a = np.zeros_like(w)  # second moment
    v = np.zeros_like(w)  # SGD momentum buffer
    lam = 0.0  # λ_k, the averaged projected rate
    phase, sgd_rate, switch_step = "adam", 0.0, -1
    out = []
    for k in range(1, steps + 1):
        g = grad(w)
        if phase == "sgd":
            v = beta1 * v + g
            w = w - (1 - beta1) * sgd_rate * v
        else:
            m = beta1 * m + (1 - beta1) * g
            a = beta2 * a + (1 - beta2) * g * g
            p = -lr * np.sqrt(1 - beta2**k) / (1 - beta1**k) * m / (np.sqrt(a) + eps)
            w = w + p
            if p @ g != 0:
                gamma = (p @ p) / (-(p @ g))
                lam = beta2 * lam + (1 - beta2) * gamma
                if k > 1 and abs(lam / (1 - beta2**k) - gamma) < switch_eps:
                    phase, sgd_rate, switch_step = "sgd", lam / (1 - beta2**k), k
        out.append(
            {
                "w": w.copy(),
                "lam": lam,
                "switched": phase == "sgd",
                "switch_step": switch_step,
                "sgd_rate": sgd_rate,
            }
        )
    return out


def adabound(
    grad: Callable[[np.ndarray], np.ndarray],
    w0: np.ndarray,
    steps: int,
    lr: Callable[[int], float],
    final_lr: float = 0.1,
    beta1: float = 0.9,
    beta2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    amsbound: bool = False,
) -> list[dict]:
    """Luo, Xiong, Liu & Sun 2019, "Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate", Algorithm 2 (AdaBound; Algorithm 3 with ``amsbound``), in the form of the
    authors' released code: Adam's bias corrections folded into the step size, bounds
    η_l(t) = α*(1 − 1/(γt + 1)), η_u(t) = α*(1 + 1/(γt)) with α* = final_lr·α_t/α_1, and
    no extra 1/√t decay.

    ``lr`` is the learning rate as a function of the 0-based step. Returns, after each
    step t = 1..steps, the iterate, the bounds, and how many coordinates each bound clipped.
    """
    w = w0.astype(np.float64).copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    v_max = np.zeros_like(w)
    out = []
    for t in range(1, steps + 1):
        alpha = lr(t - 1)
        g = grad(w)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        if amsbound:
            v_max = np.maximum(v_max, v)
        denom = np.sqrt(v_max if amsbound else v) + eps
        step_size = alpha * np.sqrt(1 - beta2**t) / (1 - beta1**t)
        final = final_lr * alpha / lr(0)
        lower = final * (1 - 1 / (gamma * t + 1))
        upper = final * (1 + 1 / (gamma * t))
        rate = step_size / denom
        eta = np.clip(rate, lower, upper)
        w = w - eta * m
        out.append(
            {
                "w": w.copy(),
                "lower": lower,
                "upper": upper,
                "clipped_low": int(np.sum(rate < lower)),
                "clipped_high": int(np.sum(rate > upper)),
            }
        )
    return out
