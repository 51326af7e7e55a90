"""Lanczos iteration with full reorthogonalization, and what it gives: extreme eigenvalues
and the spectral density by stochastic Lanczos quadrature (SLQ).

Everything here takes a symmetric linear operator as a function ``matvec(v) -> A v`` on
flat vectors, so it works for any Hessian-vector product (see `tricks.diagnostics.hvp`)
without forming the matrix. The whole iteration is one jitted `jax.lax.fori_loop`.

References: Golub & Van Loan, *Matrix Computations* §10.1 (Lanczos; full
reorthogonalization); Ghorbani, Krishnan & Xiao, "An Investigation into Neural Net
Optimization via Hessian Eigenvalue Density", ICML 2019 (SLQ for neural-network
Hessians); Ubaru, Chen & Saad 2017 (SLQ).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

MatVec = Callable[[jax.Array], jax.Array]


def as_partial(matvec: MatVec) -> jax.tree_util.Partial:
    """`matvec` as a `jax.tree_util.Partial`, a pytree that jitted functions take as an argument.

    A `Partial` built with arrays (``Partial(fn, params, batches)``) passes them to the
    compiled iteration as arguments instead of baking them in as constants.
    """
    return matvec if isinstance(matvec, jax.tree_util.Partial) else jax.tree_util.Partial(matvec)


@dataclasses.dataclass(frozen=True)
class Tridiagonal:
    """The output of `lanczos`: T = tridiag(beta, alpha, beta) and the Lanczos basis.

    Attributes:
        alpha: diagonal of T, (m,).
        beta: off-diagonal of T, (m - 1,).
        basis: the orthonormal Lanczos vectors as rows, (m, n).
        residual: the norm of the next (unused) residual, β_m; 0 when the Krylov space
            became invariant.
    """

    alpha: np.ndarray
    beta: np.ndarray
    basis: jax.Array
    residual: float

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values (ascending) and the eigenvectors of T (columns), in float64."""
        m = len(self.alpha)
        t = np.diag(self.alpha) + np.diag(self.beta, 1) + np.diag(self.beta, -1)
        values, vectors = np.linalg.eigh(t) if m else (np.zeros(0), np.zeros((0, 0)))
        return values, vectors


@partial(jax.jit, static_argnames=("num_iters",))
def _lanczos(matvec: jax.tree_util.Partial, start: jax.Array, num_iters: int):
    n = start.shape[0]
    dtype = start.dtype
    v0 = start / jnp.linalg.norm(start)
    basis = jnp.zeros((num_iters, n), dtype).at[0].set(v0)
    alpha = jnp.zeros((num_iters,), dtype)
    beta = jnp.zeros((num_iters,), dtype)  # beta[i]: norm after step i (the coupling to vector i + 1)

    def body(i, carry):
        basis, alpha, beta = carry
        v = basis[i]
        w = matvec(v)
        a = jnp.vdot(v, w)
        # Full reorthogonalization against every vector so far, done twice ("twice is
        # enough", Kahan/Parlett): it replaces the three-term recurrence's subtraction
        # and keeps the basis orthogonal to working precision.
        mask = (jnp.arange(num_iters) <= i).astype(dtype)[:, None]
        for _ in range(2):
            w = w - (mask * basis).T @ ((mask * basis) @ w)
        b = jnp.linalg.norm(w)
        # An invariant subspace (b ~ 0) ends the useful iteration: later vectors stay 0.
        safe = b > jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(a), 1.0) * 10
        nxt = jnp.where(safe, w / jnp.where(safe, b, 1.0), 0.0)
        basis = jax.lax.cond(i + 1 < num_iters, lambda bs: bs.at[i + 1].set(nxt), lambda bs: bs, basis)
        return basis, alpha.at[i].set(a), beta.at[i].set(jnp.where(safe, b, 0.0))

    return jax.lax.fori_loop(0, num_iters, body, (basis, alpha, beta))


def lanczos(matvec: MatVec, dim: int, num_iters: int, key: jax.Array, dtype=jnp.float32) -> Tridiagonal:
    """`num_iters` Lanczos steps on a symmetric operator, with full reorthogonalization.

    Args:
        matvec: ``v -> A v`` on vectors of length `dim` (jittable).
        dim: the operator's size n.
        num_iters: m, the Krylov dimension (at most `dim`).
        key: draws the start vector (Gaussian, normalized).
        dtype: the dtype of the vectors (float64 needs x64 enabled).

    Returns:
        A `Tridiagonal`. If the Krylov space becomes invariant before m steps (``A`` has
        fewer distinct eigenvalues than m), the rest of T is cut off.

    Raises:
        ValueError: `num_iters` not in [1, dim].

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> a = jnp.diag(jnp.array([1.0, 2.0, 3.0, 4.0]))
        >>> t = lanczos(lambda v: a @ v, 4, 4, jax.random.key(0))
        >>> t.ritz()[0].round(4).tolist()
        [1.0, 2.0, 3.0, 4.0]
    """
    if not 1 <= num_iters <= dim:
        raise ValueError(f"num_iters must be in [1, {dim}] (the operator's size), got {num_iters}")
    start = jax.random.normal(key, (dim,), dtype)
    basis, alpha, beta = _lanczos(as_partial(matvec), start, int(num_iters))
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    stop = int(np.argmax(beta == 0)) + 1 if np.any(beta == 0) else num_iters
    return Tridiagonal(alpha[:stop], beta[: stop - 1], basis[:stop], float(beta[stop - 1]))


@dataclasses.dataclass(frozen=True)
class Eigenpairs:
    """Extreme eigenvalues estimated by Lanczos.

    Attributes:
        values: the k largest Ritz values, descending.
        bounds: for each, the residual norm ‖A y − θ y‖ = |β_m s_m|: an error bar on the
            eigenvalue (small means converged).
        smallest: the smallest Ritz value (an estimate of the most negative eigenvalue).
        num_iters: the Krylov dimension used.
    """

    values: np.ndarray
    bounds: np.ndarray
    smallest: float
    num_iters: int


def top_eigenvalues(
    matvec: MatVec, dim: int, k: int, key: jax.Array, num_iters: int | None = None, dtype=jnp.float32
) -> Eigenpairs:
    """The k largest eigenvalues of a symmetric operator, by Lanczos with full reorthogonalization.

    Args:
        matvec: ``v -> A v`` (jittable).
        dim: the operator's size n.
        k: how many eigenvalues, 1 <= k <= n.
        key: the start vector's key.
        num_iters: the Krylov dimension; default ``min(n, max(3k, k + 40))``.
        dtype: the vectors' dtype.

    Raises:
        ValueError: k not in [1, n], or num_iters < k.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> a = jnp.diag(jnp.arange(1.0, 101.0))
        >>> pairs = top_eigenvalues(lambda v: a @ v, 100, 3, jax.random.key(0))
        >>> pairs.values.round(3).tolist(), round(pairs.smallest, 3)
        ([100.0, 99.0, 98.0], 1.0)
    """
    if not 1 <= k <= dim:
        raise ValueError(f"k must be in [1, {dim}] (the number of parameters), got {k}")
    num_iters = min(dim, max(3 * k, k + 40)) if num_iters is None else num_iters
    if num_iters < k:
        raise ValueError(f"num_iters ({num_iters}) must be at least k ({k})")
    t = lanczos(matvec, dim, num_iters, key, dtype)
    values, vectors = t.ritz()
    order = np.argsort(values)[::-1][:k]
    bounds = np.abs(t.residual * vectors[-1, order])
    return Eigenpairs(values[order], bounds, float(values[0]), len(t.alpha))


@dataclasses.dataclass(frozen=True)
class Density:
    """A spectral density estimated by stochastic Lanczos quadrature.

    ∫ f(λ) dμ(λ) ≈ mean over probes of Σ_j w_j f(θ_j), with θ_j the Ritz values of one
    probe's Lanczos run and w_j the squared first components of T's eigenvectors; μ is the
    eigenvalue distribution normalized to total mass 1.

    Attributes:
        nodes: Ritz values θ, (probes, m).
        weights: quadrature weights w (each row sums to 1), (probes, m).
    """

    nodes: np.ndarray
    weights: np.ndarray

    def positive_share(self) -> float:
        """The estimated share of positive eigenvalues (the minimum ratio)."""
        return float(np.mean(np.sum(self.weights * (self.nodes > 0), axis=1)))

    def evaluate(self, grid: np.ndarray, sigma: float) -> np.ndarray:
        """The density on `grid`: the quadrature smoothed by Gaussians of width `sigma`."""
        grid = np.asarray(grid, np.float64)[:, None, None]
        kernels = np.exp(-0.5 * ((grid - self.nodes[None]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        return np.mean(np.sum(kernels * self.weights[None], axis=2), axis=1)


def spectral_density(
    matvec: MatVec, dim: int, key: jax.Array, num_probes: int = 4, num_iters: int = 80, dtype=jnp.float32
) -> Density:
    """The eigenvalue density of a symmetric operator by stochastic Lanczos quadrature.

    Args:
        matvec: ``v -> A v`` (jittable).
        dim: the operator's size n.
        key: draws the probes' start vectors.
        num_probes: independent Lanczos runs averaged.
        num_iters: Lanczos steps per probe (capped at n).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> a = jnp.diag(jnp.array([-1.0] * 25 + [2.0] * 75))
        >>> density = spectral_density(lambda v: a @ v, 100, jax.random.key(0), num_probes=8, num_iters=10)
        >>> round(density.positive_share(), 1)
        0.8
    """
    if num_probes < 1:
        raise ValueError(f"num_probes must be >= 1, got {num_probes}")
    num_iters = min(num_iters, dim)
    nodes, weights = [], []
    for probe_key in jax.random.split(key, num_probes):
        values, vectors = lanczos(matvec, dim, num_iters, probe_key, dtype).ritz()
        padding = num_iters - len(values)  # an early invariant subspace: pad with zero weight
        nodes.append(np.pad(values, (0, padding), constant_values=values[-1] if len(values) else 0.0))
        weights.append(np.pad(vectors[0] ** 2, (0, padding)))
    return Density(np.stack(nodes), np.stack(weights))
