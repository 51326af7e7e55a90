"""`train_and_evaluate`: one training run from a config into a workdir."""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from tricks import data as data_lib
from tricks import optimizers as optimizers_lib
from tricks.train import _workdir
from tricks.train._build import build_components, create_checked_state
from tricks.train._checkpoint import Checkpoints
from tricks.train._defaults import complete
from tricks.train._evaluate import evaluate
from tricks.train._step import make_eval_step, make_train_step, param_norm, zero_sums
from tricks.train._writers import ConsoleWriter, JsonlWriter, MultiWriter, Stopwatch, TensorBoardWriter

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step."""


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, *,
                       force: bool = False) -> dict[str, Any]:
    """Trains as `config` says, evaluating, logging and checkpointing into `workdir`.

    A workdir that already holds checkpoints of the same config is resumed from the
    newest one. Writes ``metrics.jsonl``, TensorBoard events, ``checkpoints/`` and, at
    the end, ``summary.json``, which is also returned.

    Args:
        config: a training config (missing standard fields take their defaults).
        workdir: the run's folder (created if needed).
        force: continue in a workdir that holds a run of a different config.

    Returns:
        ``{"step", "eval": {"accuracy", "loss"}, "splits": {split: {...}}, "train": {...},
        "wall_time_s", ...}``; ``eval`` is the last of the evaluated splits (test by default).

    Raises:
        NonFiniteLossError: the loss became non-finite (with the step), unless the
            optimizer skips non-finite updates.
        tricks.config.ConfigError, registry.RegistryError: a bad config.

    Examples:
        >>> import tempfile
        >>> from tricks.train import default_config
        >>> cfg = default_config()
        >>> cfg.dataset = f"digits(data_dir={tempfile.mkdtemp()!r})"
        >>> cfg.num_steps, cfg.progress = 20, False
        >>> summary = train_and_evaluate(cfg, tempfile.mkdtemp())
        >>> summary["step"], summary["eval"]["accuracy"] > 0.5
        (20, True)
    """
    config = complete(config)
    workdir = pathlib.Path(workdir)
    _workdir.prepare(workdir, config, force)
    parts = build_components(config)
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
    batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    loader = data_lib.make_loader(parts.dataset, "train", config.batch_size, config.seed,
                                  class_balanced=config.class_balanced, sharding=batch_sharding)
    num_steps = config.num_steps if config.num_steps > 0 else config.num_epochs * loader.steps_per_epoch
    eval_every = config.eval_every if config.eval_every > 0 else loader.steps_per_epoch
    names = (_spec_text(config.model), _spec_text(config.dataset))
    state = create_checked_state(parts, jnp.asarray(loader.batch(0)["image"]), config.seed, names)
    state = jax.device_put(state, replicated)

    checkpoints = Checkpoints(workdir)
    start, elapsed = 0, 0.0
    if checkpoints.latest() is not None:
        state, meta = checkpoints.restore(checkpoints.latest(), state)
        start, elapsed = int(state.step), float(meta.get("wall_time_s", 0.0))
        print(f"resuming {workdir} from step {start}")
    batches = loader.iterate(start)

    train_step = jax.jit(make_train_step(parts.model, parts.optimizer, parts.loss, parts.augment,
                                         parts.num_classes), donate_argnums=(0, 2))
    eval_step = jax.jit(make_eval_step(parts.model, parts.num_classes, parts.augment))
    norm = jax.jit(param_norm)
    skips_nonfinite = _skips_nonfinite(state.opt_state)
    eval_loaders = {split: data_lib.make_loader(parts.dataset, split, config.eval_batch_size, config.seed,
                                                sharding=batch_sharding)
                    for split in config.eval_splits if split in parts.dataset.splits}

    writer = MultiWriter([
        ConsoleWriter(num_steps, start, enabled=config.progress),
        JsonlWriter(workdir),
        TensorBoardWriter(workdir),
    ])
    clock = Stopwatch(elapsed)
    sums, train_metrics, results = zero_sums(), {}, {}
    try:
        for step in range(start, num_steps):
            state, sums = train_step(state, next(batches), sums)
            done = step + 1
            if done % config.log_every == 0 or done == num_steps:
                train_metrics = _fetch_train_metrics(sums, state, norm)
                if train_metrics.pop("first_nonfinite") >= 0 and not skips_nonfinite:
                    bad = int(jax.device_get(sums["first_nonfinite"]))
                    raise NonFiniteLossError(
                        f"the training loss became non-finite at step {bad}; lower the learning rate, add "
                        f"gradient clipping, or wrap the optimizer to skip non-finite updates"
                    )
                writer.write(done, {f"train/{k}": v for k, v in train_metrics.items()})
                sums = zero_sums()
            if done % eval_every == 0 or done == num_steps:
                results = {split: evaluate(eval_step, state, loader_.eval_batches())
                           for split, loader_ in eval_loaders.items()}
                writer.write(done, {f"eval/{split}/{k}": v for split, m in results.items()
                                    for k, v in m.items() if k != "examples"})
                checkpoints.save(done, state, {"config": json.loads(config.to_json()),
                                               "code_version": _workdir.code_version(),
                                               "wall_time_s": clock.elapsed()})
    finally:
        writer.close()
        checkpoints.close()
    summary = {
        "step": int(num_steps),
        "eval": results[list(results)[-1]] if results else {},
        "splits": results,
        "train": train_metrics,
        "wall_time_s": clock.elapsed(),
        "code_version": _workdir.code_version(),
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _fetch_train_metrics(sums, state, norm) -> dict[str, float]:
    """Means over the log interval, plus the current hyperparameters and parameter norm."""
    sums, hyper, pnorm = jax.device_get((sums, optimizers_lib.hyperparams(state.opt_state), norm(state.params)))
    count = max(int(sums["count"]), 1)
    metrics = {k: float(sums[k]) / count for k in ("loss", "accuracy", "grad_norm")}
    metrics.update({k: float(np.asarray(v)) for k, v in hyper.items() if np.ndim(v) == 0})
    metrics["param_norm"] = float(pnorm)
    metrics["first_nonfinite"] = int(sums["first_nonfinite"])
    return metrics


def _skips_nonfinite(opt_state) -> bool:
    """Whether the optimizer skips non-finite updates (`skip_nonfinite` / `optax.apply_if_finite`)."""
    is_state = lambda node: isinstance(node, optax.ApplyIfFiniteState)  # noqa: E731
    return any(is_state(n) for n in jax.tree.leaves(opt_state, is_leaf=is_state))


def _spec_text(spec: Any) -> str:
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    return repr(spec) if isinstance(spec, str) else json.dumps(spec)
