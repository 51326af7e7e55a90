"""A finished (or running) training run read back from its workdir, and its loss as a function."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from tricks import data as data_lib
from tricks import train
from tricks.train import TrainState
from tricks.train._build import Components


@dataclasses.dataclass(frozen=True)
class Run:
    """A run's config, its built components and the train state of one checkpoint."""

    config: ml_collections.ConfigDict
    components: Components
    state: TrainState
    step: int


def checkpoint_steps(workdir: str | pathlib.Path) -> list[int]:
    """The steps of the finished checkpoints in ``WORKDIR/checkpoints`` (empty if none).

    Nothing is created: a workdir without checkpoints is left as it is.

    Examples:
        >>> import tempfile
        >>> checkpoint_steps(tempfile.mkdtemp())
        []
    """
    folder = pathlib.Path(workdir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(
        int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "_CHECKPOINT_METADATA").exists()
    )


def load_run(workdir: str | pathlib.Path, step: int | None = None) -> Run:
    """Rebuilds a run's model and data from ``WORKDIR/config.json`` and restores a checkpoint.

    Args:
        workdir: a folder written by `tricks.train.train_and_evaluate`.
        step: the checkpoint's step; None takes the newest.

    Raises:
        FileNotFoundError: no such workdir, no ``config.json``, no checkpoint, or no
            checkpoint at `step` (the message lists the steps there are).

    Examples:
        >>> import tempfile
        >>> load_run(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        FileNotFoundError: ... holds no config.json: not a training workdir (written by 'tricks train')
    """
    trained = train.load(workdir, step)
    return Run(trained.config, trained.components, trained.state, trained.step)


def evaluation_loss(components: Components, state: TrainState) -> Callable[[Any, dict], jax.Array]:
    """``loss(params, batch)``: the run's training loss with the model in evaluation mode.

    Evaluation mode: no dropout, batch norm with its running averages (a deterministic
    function of the parameters, so its Hessian is well defined); the augmentations run
    in their evaluation form (normalization stays, random transforms do not apply).
    """
    model, loss, augment = components.model, components.loss, components.augment
    batch_stats, num_classes = state.batch_stats, components.num_classes

    def fn(params, batch):
        targets = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.float32)
        inputs = augment({"image": batch["image"], "label": targets}, jax.random.key(0), False)
        variables = {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}
        return loss(model.apply(variables, inputs["image"], train=False), inputs["label"])

    return fn


def stacked_batches(dataset: Any, batch_size: int, count: int, seed: int = 0) -> dict[str, jax.Array]:
    """`count` training batches of `batch_size`, stacked on a leading axis (for `hessian_matvec`).

    Raises:
        ValueError: `count` < 1.

    Examples:
        >>> import registry, tempfile, tricks
        >>> ds = registry.build("dataset", {"name": "digits", "data_dir": tempfile.mkdtemp()})
        >>> stacked_batches(ds, 16, 3)["image"].shape
        (3, 16, 8, 8, 1)
    """
    if count < 1:
        raise ValueError(f"the number of batches must be >= 1, got {count}")
    loader = data_lib.make_loader(dataset, "train", batch_size, seed)
    batches = [jax.device_get(loader.batch(i)) for i in range(count)]
    return {key: jnp.asarray(np.stack([b[key] for b in batches])) for key in ("image", "label")}
