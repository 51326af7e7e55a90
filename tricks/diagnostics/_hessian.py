"""The loss Hessian: Hessian-vector products, its full spectrum for small models, its top
eigenvalues and density for any model, the minimum ratio and sharpness (SPEC §7).

At a critical point the Hessian's eigenvalues tell a local minimum (all positive) from a
saddle (mixed signs); the *minimum ratio* is the share of positive eigenvalues; the
*sharpness* is the top eigenvalue (sharp vs flat minima).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from tricks import train
from tricks.diagnostics._lanczos import Density, Eigenpairs, as_partial, spectral_density, top_eigenvalues

FULL_SPECTRUM_LIMIT = 5000
"""Models with at most this many parameters get the exact spectrum (an n x n matrix)."""


def hvp(loss_fn: Callable[[Any], jax.Array], params: Any, vector: Any) -> Any:
    """The Hessian-vector product H v of `loss_fn` at `params`, forward-over-reverse.

    ``jax.jvp`` of ``jax.grad``: one forward-mode pass through the backward pass, about the
    cost of two to three gradients and no n x n matrix (`tricks bench hvp` measures it).

    Args:
        loss_fn: a scalar function of a parameter pytree.
        params: where the Hessian is taken.
        vector: a pytree shaped like `params`.

    Returns:
        H v, shaped like `params`.

    Examples:
        >>> import jax.numpy as jnp
        >>> loss = lambda p: 0.5 * p["x"] @ jnp.array([[2.0, 1.0], [1.0, 3.0]]) @ p["x"]
        >>> hvp(loss, {"x": jnp.zeros(2)}, {"x": jnp.array([1.0, 0.0])})
        {'x': Array([2., 1.], dtype=float32)}
    """
    return jax.jvp(jax.grad(loss_fn), (params,), (vector,))[1]


def _flat_hvp(loss_fn, unravel, with_batches, params, batches, vector):
    """The product on flat vectors; its convolutions laid out on a CPU
    (`tricks.train.canonical_convolutions`), since Lanczos runs it inside a loop."""
    tangent = unravel(vector.astype(ravel_pytree(params)[0].dtype))
    if not with_batches:
        return ravel_pytree(train.canonical_convolutions(lambda p, t: hvp(loss_fn, p, t))(params, tangent))[0]

    @train.canonical_convolutions
    def one(batch):
        return ravel_pytree(hvp(lambda p: loss_fn(p, batch), params, tangent))[0]

    return jnp.mean(jax.lax.map(one, batches), axis=0)


def hessian_matvec(
    loss_fn: Callable[..., jax.Array], params: Any, batches: Any = None
) -> tuple[jax.tree_util.Partial, int]:
    """H v on flat vectors, for `lanczos` and friends, and the number of parameters n.

    Args:
        loss_fn: ``loss_fn(params)``, or ``loss_fn(params, batch)`` when `batches` is given.
        params: the parameter pytree (flattened in `jax.flatten_util.ravel_pytree` order).
        batches: None, or a pytree of arrays with a leading axis of B batches; the
            operator is then the Hessian of the mean loss over the B batches, each batch's
            product computed in turn (`jax.lax.map`) to bound memory.

    Returns:
        (matvec, n): ``matvec(v)`` takes and returns (n,) vectors; it is a
        `jax.tree_util.Partial` holding `params` and `batches` as arrays.

    Examples:
        >>> import jax.numpy as jnp
        >>> loss = lambda p, b: jnp.sum((b["x"] @ p["w"]) ** 2)
        >>> batches = {"x": jnp.stack([jnp.eye(2), 2 * jnp.eye(2)])}
        >>> matvec, n = hessian_matvec(loss, {"w": jnp.zeros(2)}, batches)
        >>> n, matvec(jnp.array([1.0, 0.0]))
        (2, Array([5., 0.], dtype=float32))
    """
    flat, unravel = ravel_pytree(params)
    fn = functools.partial(_flat_hvp, loss_fn, unravel, batches is not None)
    return jax.tree_util.Partial(fn, params, batches), int(flat.size)


def full_hessian(
    matvec: Callable[[jax.Array], jax.Array], dim: int, limit: int = FULL_SPECTRUM_LIMIT, dtype=jnp.float32
) -> np.ndarray:
    """The n x n Hessian, built column by column from `matvec` (for small models only).

    The columns H e_i are computed in chunks with `jax.vmap`; the result is symmetrized,
    (H + Hᵀ)/2, to remove rounding asymmetry.

    Raises:
        ValueError: n above `limit` (a float32 Hessian takes 4 n² bytes).

    Examples:
        >>> import jax.numpy as jnp
        >>> a = jnp.array([[2.0, 1.0], [1.0, 3.0]])
        >>> full_hessian(lambda v: a @ v, 2)
        array([[2., 1.],
               [1., 3.]])
    """
    if dim > limit:
        raise ValueError(
            f"the full Hessian of {dim} parameters would be a {dim} x {dim} matrix; the limit is {limit} "
            "(use Lanczos for the top eigenvalues and stochastic Lanczos quadrature for the density)"
        )
    operator = as_partial(matvec)
    chunk = max(1, min(dim, 2**22 // max(dim, 1)))
    eye = jnp.eye(dim, dtype=dtype)
    blocks = [np.asarray(_columns(operator, eye[i : i + chunk]), np.float64) for i in range(0, dim, chunk)]
    h = np.concatenate(blocks, axis=0)
    return 0.5 * (h + h.T)


@jax.jit
def _columns(matvec: jax.tree_util.Partial, basis: jax.Array) -> jax.Array:
    return jax.vmap(matvec)(basis)


def minimum_ratio(eigenvalues: np.ndarray, tol: float = 0.0) -> float:
    """The share of positive eigenvalues: about 1 at a minimum, lower at a saddle.

    Eigenvalues with |λ| <= `tol` count as zero and are left out of both counts (with
    the default 0 only exact zeros are); an all-zero spectrum gives NaN.

    Examples:
        >>> minimum_ratio([3.0, 1.0, -0.5, 1e-9])
        0.75
        >>> minimum_ratio([3.0, 1.0, -0.5, 1e-9], tol=1e-6)
        0.6666666666666666
    """
    values = np.asarray(eigenvalues, np.float64)
    counted = np.abs(values) > tol
    return float(np.sum(values > tol) / np.sum(counted)) if np.any(counted) else float("nan")


@dataclasses.dataclass(frozen=True)
class HessianReport:
    """What `analyze_hessian` found.

    Attributes:
        num_params: n.
        top: the k largest eigenvalues (Lanczos), with their residual bounds.
        sharpness: the largest eigenvalue.
        minimum_ratio: the share of positive eigenvalues, exact when `spectrum` is set,
            else the SLQ estimate.
        spectrum: every eigenvalue, ascending (models up to `FULL_SPECTRUM_LIMIT`
            parameters), else None.
        density: the SLQ density estimate.
        loss: the loss at the analyzed parameters.
    """

    num_params: int
    top: Eigenpairs
    sharpness: float
    minimum_ratio: float
    spectrum: np.ndarray | None
    density: Density
    loss: float

    def table(self) -> str:
        """The report as text: the top eigenvalues, then the summary lines.

        Examples:
            >>> import jax.numpy as jnp, jax
            >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p["w"] ** 2)
            >>> print(analyze_hessian(loss, {"w": jnp.ones(4)}, k=2, key=jax.random.key(0)).table())
            rank   eigenvalue   residual
               1       4.0000   ...
               2       3.0000   ...
            parameters: 4
            loss: 5.000000
            sharpness (top eigenvalue): 4
            smallest eigenvalue: 1
            minimum ratio (share of positive eigenvalues): 1.0000 (exact, full spectrum)
        """
        lines = [f"{'rank':>4}  {'eigenvalue':>11}  {'residual':>9}"]
        for i, (value, bound) in enumerate(zip(self.top.values, self.top.bounds), 1):
            lines.append(f"{i:>4}  {value:11.4f}  {bound:9.2e}")
        smallest = self.spectrum[0] if self.spectrum is not None else self.top.smallest
        how = (
            "exact, full spectrum" if self.spectrum is not None else "stochastic Lanczos quadrature estimate"
        )
        lines += [
            f"parameters: {self.num_params}",
            f"loss: {self.loss:.6f}",
            f"sharpness (top eigenvalue): {self.sharpness:.6g}",
            f"smallest eigenvalue: {smallest:.6g}",
            f"minimum ratio (share of positive eigenvalues): {self.minimum_ratio:.4f} ({how})",
        ]
        return "\n".join(lines)


def analyze_hessian(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    batches: Any = None,
    *,
    k: int = 20,
    key: jax.Array,
    num_iters: int | None = None,
    num_probes: int = 4,
    density_iters: int | None = None,
    full_limit: int = FULL_SPECTRUM_LIMIT,
) -> HessianReport:
    """Top-k eigenvalues, sharpness, minimum ratio, density (and the full spectrum when small).

    Args:
        loss_fn, params, batches: as for `hessian_matvec`.
        k: how many top eigenvalues.
        key: the random key of the Lanczos start vectors and probes.
        num_iters: Lanczos steps for the top eigenvalues (default: see `top_eigenvalues`).
        num_probes: stochastic Lanczos quadrature probes.
        density_iters: Lanczos steps per probe (default: as many as for the top
            eigenvalues, so one compiled iteration serves both).
        full_limit: the largest n for which the full spectrum is computed.

    Raises:
        ValueError: `k` larger than the number of parameters (or below 1).
    """
    matvec, n = hessian_matvec(loss_fn, params, batches)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of parameters ({n}), got {k}")
    dtype = ravel_pytree(params)[0].dtype
    top_key, density_key = jax.random.split(key)
    top = top_eigenvalues(matvec, n, k, top_key, num_iters, dtype)
    density_iters = top.num_iters if density_iters is None else density_iters
    density = spectral_density(matvec, n, density_key, num_probes, density_iters, dtype)
    spectrum = np.linalg.eigvalsh(full_hessian(matvec, n, full_limit, dtype)) if n <= full_limit else None
    ratio = minimum_ratio(spectrum) if spectrum is not None else density.positive_share()
    if batches is None:
        loss = float(loss_fn(params))
    else:
        loss = float(jnp.mean(jax.lax.map(lambda b: loss_fn(params, b), batches)))
    sharpness = float(spectrum[-1]) if spectrum is not None else float(top.values[0])
    return HessianReport(n, top, sharpness, ratio, spectrum, density, loss)
