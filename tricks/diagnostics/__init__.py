"""Looking inside training (SPEC §4, §7): activations at init, gradients, the Hessian, the overfit check.

- Initialization judged by activations: `compare_inits` pushes one batch through the
  untrained model once per init scheme and reports, per layer, the mean, std, share of
  saturated outputs (|tanh| > 0.99; sigmoid < 0.01 or > 0.99) and of dead ReLUs
  (`LayerStats`, `InitReport.verdict`); `draw_init_histograms` draws them.
- Gradients: `per_layer_grad_norms(grads)` (jittable, on the device) for the train step,
  `layer_histograms` (on the device) for TensorBoard histograms; logged as ``train/grad_norm/<layer>``
  (`GRAD_NORM_PREFIX`), drawn by ``tricks plot grads``, which names the layers that
  `stalled_layers` finds (gradients typically below `STALL_RATIO` of the largest layer's).
- The Hessian: `hvp` (forward-over-reverse), `hessian_matvec` on flat vectors over
  several batches, `lanczos` with full reorthogonalization, `top_eigenvalues`,
  `spectral_density` (stochastic Lanczos quadrature), `full_hessian` for small models,
  `minimum_ratio`, and `analyze_hessian` putting them together (`HessianReport`);
  `load_run` reads a run back from its workdir for ``tricks hessian``.
- The overfit check: `overfit_check(config)` trains on a tiny subset without
  augmentation or regularization (`strip_regularization`) and reports whether training
  accuracy reaches 100%, and when.

Examples:
    >>> import jax.numpy as jnp
    >>> from tricks import diagnostics
    >>> loss = lambda p: jnp.sum(jnp.array([3.0, -1.0]) * p ** 2) / 2
    >>> matvec, n = diagnostics.hessian_matvec(loss, jnp.zeros(2))
    >>> diagnostics.minimum_ratio(jnp.linalg.eigvalsh(diagnostics.full_hessian(matvec, n)))
    0.5
"""

from tricks.diagnostics._activations import (
    InitReport,
    LayerStats,
    activations,
    compare_inits,
    init_table,
    layer_statistics,
)
from tricks.train import (  # defined by the engine, which logs them
    GRAD_NORM_PREFIX,
    layer_histograms,
    layer_names,
    per_layer_grad_norms,
)
from tricks.diagnostics._hessian import (
    FULL_SPECTRUM_LIMIT,
    HessianReport,
    analyze_hessian,
    full_hessian,
    hessian_matvec,
    hvp,
    minimum_ratio,
)
from tricks.diagnostics._lanczos import (
    Density,
    Eigenpairs,
    Tridiagonal,
    lanczos,
    spectral_density,
    top_eigenvalues,
)
from tricks.diagnostics._plots import draw_hessian, draw_init_histograms, draw_sanity
from tricks.diagnostics._runs import Run, checkpoint_steps, evaluation_loss, load_run, stacked_batches
from tricks.diagnostics._sanity import SanityResult, overfit_check, strip_regularization
from tricks.diagnostics._specs import as_spec, override
from tricks.diagnostics._stalls import STALL_RATIO, stalled_layers

__all__ = [
    "FULL_SPECTRUM_LIMIT",
    "GRAD_NORM_PREFIX",
    "STALL_RATIO",
    "Density",
    "Eigenpairs",
    "HessianReport",
    "InitReport",
    "LayerStats",
    "Run",
    "SanityResult",
    "Tridiagonal",
    "activations",
    "analyze_hessian",
    "as_spec",
    "checkpoint_steps",
    "compare_inits",
    "draw_hessian",
    "draw_init_histograms",
    "draw_sanity",
    "evaluation_loss",
    "full_hessian",
    "hessian_matvec",
    "hvp",
    "init_table",
    "lanczos",
    "layer_names",
    "layer_statistics",
    "layer_histograms",
    "load_run",
    "minimum_ratio",
    "overfit_check",
    "override",
    "per_layer_grad_norms",
    "spectral_density",
    "stacked_batches",
    "stalled_layers",
    "strip_regularization",
    "top_eigenvalues",
]
