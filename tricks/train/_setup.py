"""Everything a run needs before its first step, shared by training and evaluation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

import registry

from tricks import data as data_lib
from tricks import metrics as metrics_lib
from tricks.config import ConfigError
from tricks.train._build import Components, build_components, create_checked_state
from tricks.train._defaults import complete
from tricks.train._ema import with_ema
from tricks.train._runtime import use_runtime
from tricks.train._state import TrainState
from tricks.train._step import make_eval_step, make_train_step


@dataclasses.dataclass
class Setup:
    """A run's components, loaders, initial state (placed on the mesh) and jitted steps."""

    config: ml_collections.ConfigDict
    components: Components
    loader: Any
    eval_loaders: dict[str, Any]
    state: TrainState
    strategy: Any
    num_steps: int
    eval_every: int
    train_step: Callable
    eval_step: Callable
    train_metrics: metrics_lib.Metrics
    eval_metrics: metrics_lib.Metrics


def setup(config: ml_collections.ConfigDict) -> Setup:
    """Builds components and loaders, initializes the state, and jits the steps.

    The config's ``parallel`` strategy says how the step runs over the devices (see
    `tricks.train._parallel`); `Setup.state` is in the common layout, replicated. This is
    the one way a run is built: training, evaluation, the LR finder, the diagnostics and
    the experiments all start here.

    Raises:
        tricks.config.ConfigError, registry.RegistryError: a bad config; under ``pmap``, a
            model with batch norm whose factory takes no ``axis_name``.

    Examples:
        >>> from tricks.train import default_config
        >>> run = setup(default_config())
        >>> run.num_steps, run.loader.batch_size, sorted(run.eval_loaders), int(run.state.step)
        (400, 128, ['test', 'validation'], 0)
    """
    config = complete(config)
    use_runtime(config.compilation_cache, config.deterministic)
    strategy = registry.build("parallel", config.parallel)
    train_metrics = metrics_lib.Metrics(config.train_metrics, metrics_lib.TRAIN_OUTPUTS, "train_metrics")
    eval_metrics = metrics_lib.Metrics(config.eval_metrics, metrics_lib.EVAL_OUTPUTS, "eval_metrics")
    parts = build_components(config, model_axis_name=strategy.axis_name)
    batch_sharding, replicated = strategy.batch_sharding, strategy.replicated
    loader = data_lib.make_loader(parts.dataset, "train", config.batch_size, config.seed,
                                  class_balanced=config.class_balanced, sharding=batch_sharding)
    eval_loaders = {
        split: data_lib.make_loader(parts.dataset, split, config.eval_batch_size, config.seed,
                                    sharding=batch_sharding)
        for split in config.eval_splits if split in parts.dataset.splits
    }
    names = (_spec_text(config.model), _spec_text(config.dataset))
    state = create_checked_state(parts, jnp.asarray(loader.batch(0)["image"]), config.seed, names)
    if strategy.axis_name and state.batch_stats and getattr(parts.model, "axis_name", None) != strategy.axis_name:
        raise ConfigError(
            f"model {names[0]} keeps batch-norm statistics but takes no axis_name, so under parallel="
            f"{_spec_text(config.parallel)} each device would keep statistics of its own rows only; train it with "
            f"parallel='sharded' (the same numbers), or give its factory an axis_name argument for BatchNorm")
    if config.ema_decay:  # the moving average of the weights lives in the state (tricks.train._ema)
        state = with_ema(state)
    train_step = strategy.compile_train(make_train_step(
        parts.model, parts.optimizer, parts.loss, parts.augment, parts.num_classes, strategy.axis_name,
        config.ema_decay, config.ema_warmup))
    return Setup(
        config=config,
        components=parts,
        loader=loader,
        eval_loaders=eval_loaders,
        state=jax.device_put(state, replicated),
        strategy=strategy,
        num_steps=parts.num_steps,
        eval_every=config.eval_every if config.eval_every > 0 else loader.steps_per_epoch,
        train_step=train_step,
        eval_step=jax.jit(make_eval_step(parts.model, parts.num_classes, parts.augment, eval_metrics)),
        train_metrics=train_metrics,
        eval_metrics=eval_metrics,
    )


def _spec_text(spec: Any) -> str:
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    if isinstance(spec, data_lib.Dataset):
        return repr(spec)
    return repr(spec) if isinstance(spec, str) else json.dumps(spec)
