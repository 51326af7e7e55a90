"""The training loss's Hessian at a run's checkpoints, for the experiments on the loss
landscape (saddles vs minima, batch size and sharpness).

Every run is measured on the same examples: the first ``examples`` of the training split
in the order of seed 0 (`tricks.diagnostics.stacked_batches`), in evaluation mode
(`tricks.diagnostics.evaluation_loss`), so the spectra of different runs and steps
differ only in the parameters.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

BATCH = 256
"""Examples per batch of the Hessian's loss (its products are taken batch by batch)."""


@dataclasses.dataclass(frozen=True)
class Landscape:
    """The training loss at one point of a run, and its Hessian as an operator.

    Attributes:
        step: the checkpoint's step (0: the initialization).
        loss: the mean training loss over the examples.
        matvec: ``H v`` on flat vectors (`tricks.diagnostics.hessian_matvec`).
        num_params: n.
    """

    step: int
    loss: float
    matvec: object
    num_params: int

    def spectrum(self) -> np.ndarray:
        """Every eigenvalue, ascending (small models only: `tricks.diagnostics.full_hessian`)."""
        from tricks import diagnostics

        return np.linalg.eigvalsh(diagnostics.full_hessian(self.matvec, self.num_params))

    def sharpness(self, seed: int = 0) -> float:
        """The top eigenvalue (Lanczos, `tricks.diagnostics.top_eigenvalues`)."""
        import jax

        from tricks import diagnostics

        return float(diagnostics.top_eigenvalues(self.matvec, self.num_params, 1, jax.random.key(seed)).values[0])


def landscape(workdir: pathlib.Path, step: int, examples: int = 1024) -> Landscape:
    """The training loss and its Hessian at the run's checkpoint `step` (0: its
    initialization, rebuilt from its config), over `examples` training examples.

    Raises:
        FileNotFoundError: no run in `workdir`, or no checkpoint at `step`.
    """
    import jax
    import jax.numpy as jnp

    from tricks import diagnostics, train

    if step == 0:
        trained = train.load(workdir)
        built = train.setup(trained.config)
        components, state = built.components, built.state
    else:
        run = diagnostics.load_run(workdir, step)
        components, state = run.components, run.state
    batches = diagnostics.stacked_batches(components.dataset, BATCH, max(1, examples // BATCH), seed=0)
    loss_fn = diagnostics.evaluation_loss(components, state)
    matvec, n = diagnostics.hessian_matvec(loss_fn, state.params, batches)
    loss = float(jnp.mean(jax.lax.map(lambda batch: loss_fn(state.params, batch), batches)))
    return Landscape(step, loss, matvec, n)
