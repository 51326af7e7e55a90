"""The range test of a training config: the run's own model, data, loss, augmentation and train step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from tricks.diagnostics._specs import override
from tricks.lr_finder._range_test import RangeTest, _checked, check_settings, rate_setter, run_range_test
from tricks.train import TrainState, complete, setup


def constant_rate_config(config: ml_collections.ConfigDict, rate: float) -> ml_collections.ConfigDict:
    """`config` with every ``learning_rate`` of its optimizer spec (wrappers included) set to `rate`.

    Examples:
        >>> import ml_collections, tricks
        >>> rate = "'cosine(init_value=0.1, decay_steps=9)'"
        >>> spec = f"clip_by_global_norm(adam(learning_rate={rate}), max_norm=1.0)"
        >>> cfg = ml_collections.ConfigDict({"optimizer": spec})
        >>> constant_rate_config(cfg, 1e-7).optimizer
        'clip_by_global_norm(optimizer=adam(learning_rate=1e-07), max_norm=1.0)'
    """
    config = complete(config)
    new = config.to_dict()
    new["optimizer"] = str(override("optimizer", config.optimizer, {"learning_rate": float(rate)}))
    return ml_collections.ConfigDict(new)


def lr_find(
    config: ml_collections.ConfigDict,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    beta: float = 0.98,
    stop_factor: float = 4.0,
    state: TrainState | None = None,
) -> RangeTest:
    """The LR range test of a training run: the config's model, data, loss and optimizer.

    The optimizer's learning rate (a schedule included) is replaced by the test's rising
    rate; everything else (momentum, weight decay, wrappers, augmentation, dropout, batch
    norm, batch size, data order) is the run's own, through the engine's train step
    (`tricks.train.make_train_step`). The test starts from the run's initialization, or
    from a copy of `state`, which is left untouched.

    Args:
        config: a training config.
        start, end, steps, mode, beta, stop_factor: see `tricks.lr_finder.run_range_test`.
        state: a `tricks.train.TrainState` to start from instead of a fresh initialization.

    Examples:
        >>> import tempfile
        >>> from tricks.train import default_config
        >>> cfg = default_config()
        >>> cfg.dataset = f"digits(data_dir={tempfile.mkdtemp()!r})"
        >>> test = lr_find(cfg, start=1e-4, end=10.0, steps=15)
        >>> len(test.lrs) <= 15, 1e-4 <= test.suggestion <= 10.0
        (True, True)
    """
    check_settings(start, end, steps, mode, beta, stop_factor)
    config = constant_rate_config(config, start)
    config.parallel = "sharded"  # the step is jitted here, as one program over the devices
    run = setup(config)  # the run's own components, loader, state and step
    state = run.state if state is None else state
    set_rate, train_step = rate_setter(state.opt_state), run.train_step.step

    def step(state, batch, lr):
        state = state.replace(opt_state=set_rate(state.opt_state, lr))
        state, metrics = train_step(state, batch)
        return state, metrics["loss"]

    jitted = jax.jit(step, donate_argnums=0)
    return run_range_test(
        _checked(jitted, lambda s: s.opt_state),
        jax.tree.map(jnp.copy, state),
        run.loader.iterate(0),
        start=start,
        end=end,
        steps=steps,
        mode=mode,
        beta=beta,
        stop_factor=stop_factor,
    )
