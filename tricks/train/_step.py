"""The jitted train and eval steps, with metrics accumulated on the device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from tricks import optimizers as optimizers_lib
from tricks import schedules as schedules_lib
from tricks.train._gradients import GRAD_NORM_PREFIX, per_layer_grad_norms
from tricks.train._state import TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, Any]


def make_train_step(
    model,
    optimizer: optax.GradientTransformation,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
    augment: Callable[[Batch, jax.Array, bool], Batch],
    num_classes: int,
    axis_name: str | None = None,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """One optimization step: augment on the device, loss, gradients, update, metrics.

    The returned ``train_step(state, batch) -> (state, metrics)`` is pure; the caller
    jits it (donating the state). ``metrics`` are this step's float32 scalars by name
    (`step_metrics`: loss, accuracy, the hyperparameters after the update) and, under
    ``"grads"``, the gradients (for `norm_metrics` and histograms; a jitted caller that
    drops them keeps no copy). Its
    randomness is ``fold_in(state.rng, state.step)``, so step k always draws the same
    numbers whatever happened before (exact resume). Under `jax.pmap`, `axis_name`
    names the mapped axis: gradients, loss and metrics are averaged over it. The
    optimizer also receives the batch's objective as Optax's extra arguments (``value``,
    ``grad``, ``value_fn``), which line-search methods such as `lbfgs` use (full-batch
    training) and others ignore.
    """

    optimizer = optax.with_extra_args_support(optimizer)

    def mean(x):
        return x if axis_name is None else jax.lax.pmean(x, axis_name)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        step_key = jax.random.fold_in(state.rng, state.step)
        augment_key, dropout_key = jax.random.split(step_key)
        targets = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.float32)
        inputs = augment({"image": batch["image"], "label": targets}, augment_key, True)

        def objective(params):
            variables = {"params": params, "batch_stats": state.batch_stats} if state.batch_stats else {
                "params": params}
            logits, updates = model.apply(
                variables, inputs["image"], train=True, rngs={"dropout": dropout_key}, mutable=["batch_stats"]
            )
            return loss_fn(logits, inputs["label"]), (logits, updates)

        (loss, (logits, updates)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        loss, grads = mean(loss), mean(grads)
        changes, opt_state = optimizer.update(  # the objective too, for line searches (lbfgs)
            grads, state.opt_state, state.params, value=loss, grad=grads,
            value_fn=lambda params: mean(objective(params)[0]),
        )
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, changes),
            batch_stats=updates.get("batch_stats", state.batch_stats),
            opt_state=opt_state,
        )
        correct = jnp.argmax(logits, -1) == jnp.argmax(inputs["label"], -1)
        accuracy = mean(jnp.mean(correct.astype(jnp.float32)))
        return new_state, step_metrics(loss, accuracy, new_state) | {"grads": grads}

    return train_step


def make_eval_step(model, num_classes: int, augment: Callable[[Batch, jax.Array, bool], Batch]) -> Callable:
    """Sums of negative log-likelihood, correct predictions and examples over one batch.

    Padded examples (``batch["mask"] == 0``) count for nothing. The evaluation loss is
    the cross-entropy (NLL) whatever the training loss, so runs stay comparable.
    """

    def eval_step(state: TrainState, batch: Batch) -> dict[str, jax.Array]:
        targets = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.float32)
        inputs = augment({"image": batch["image"], "label": targets}, jax.random.PRNGKey(0), False)
        logits = model.apply(state.variables(), inputs["image"], train=False).astype(jnp.float32)
        mask = batch.get("mask", jnp.ones(batch["label"].shape, jnp.float32)).astype(jnp.float32)
        nll = optax.softmax_cross_entropy(logits, targets)
        correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        return {"loss": jnp.sum(nll * mask), "accuracy": jnp.sum(correct * mask), "count": jnp.sum(mask)}

    return eval_step


def step_metrics(loss: jax.Array, accuracy: jax.Array, state: TrainState) -> dict[str, jax.Array]:
    """A training step's scalars by name: ``loss`` and ``accuracy``, which log steps average
    over their interval (`averaged`), and the values after the update, which log steps take
    as they are: the optimizer's scalar hyperparameters (``learning_rate``, ...) and
    ``plateau_scale`` under `reduce_on_plateau`. The norms (`norm_metrics`) are computed at
    log steps only.

    Examples:
        >>> import registry
        >>> params = {"Dense_0": {"kernel": jnp.full((2,), 3.0)}}
        >>> state = TrainState(step=jnp.int32(1), params=params, batch_stats={},
        ...                    opt_state=registry.build("optimizer", "sgd(learning_rate=0.1)").init(params),
        ...                    rng=jax.random.key(0))
        >>> metrics = step_metrics(jnp.float32(2.0), jnp.float32(0.5), state)
        >>> {k: round(float(v), 3) for k, v in sorted(metrics.items())}
        {'accuracy': 0.5, 'learning_rate': 0.1, 'loss': 2.0}
    """
    hyper = {k: v for k, v in optimizers_lib.hyperparams(state.opt_state).items() if jnp.ndim(v) == 0}
    scalars = {"loss": loss, "accuracy": accuracy} | hyper | plateau_scales(state.opt_state)
    return {k: jnp.asarray(v, jnp.float32) for k, v in scalars.items()}


def norm_metrics(grads: Any, params: Any) -> dict[str, jax.Array]:
    """A step's norms by name: ``grad_norm`` (global), ``grad_norm/<layer>``
    (`per_layer_grad_norms`) and ``param_norm`` (after the update).

    The training calls compute them at log steps only: on XLA:CPU every small reduction
    costs several microseconds, and per step these took about 70 us of the MNIST-1D MLP's
    0.2 ms step (`tools/benchmarks/loop.py`).

    Examples:
        >>> params = {"Dense_0": {"kernel": jnp.full((2,), 3.0), "bias": jnp.full((2,), 4.0)}}
        >>> {k: round(float(v), 3) for k, v in sorted(norm_metrics(params, params).items())}
        {'grad_norm': 7.071, 'grad_norm/Dense_0': 7.071, 'param_norm': 7.071}
    """
    layers = per_layer_grad_norms(grads)
    prefix = GRAD_NORM_PREFIX.removeprefix("train/")
    scalars = {"grad_norm": jnp.sqrt(sum(jnp.square(v) for v in layers.values())), "param_norm": param_norm(params)}
    scalars |= {f"{prefix}{layer}": v for layer, v in layers.items()}
    return {k: jnp.asarray(v, jnp.float32) for k, v in scalars.items()}


def averaged(name: str) -> bool:
    """Whether a log step averages metric `name` over its interval (else it takes the value
    at the log step).

    Examples:
        >>> averaged("loss"), averaged("grad_norm/Dense_0"), averaged("learning_rate")
        (True, False, False)
    """
    return name in ("loss", "accuracy")


def param_norm(params: Any) -> jax.Array:
    """The global L2 norm of the parameters."""
    return optax.tree.norm(params)


def plateau_scales(opt_state) -> dict[str, jax.Array]:
    """``plateau_scale`` (the factor reduce_on_plateau put on the rate), if the optimizer has one."""
    is_state = lambda node: isinstance(node, schedules_lib.ScaleByPlateauState)  # noqa: E731
    found = [n for n in jax.tree.leaves(opt_state, is_leaf=is_state) if is_state(n)]
    return {"plateau_scale": found[0].plateau_state.scale} if found else {}


def skips_nonfinite(opt_state) -> bool:
    """Whether the optimizer skips non-finite updates (`skip_nonfinite` / `optax.apply_if_finite`)."""
    is_state = lambda node: isinstance(node, optax.ApplyIfFiniteState)  # noqa: E731
    return any(is_state(n) for n in jax.tree.leaves(opt_state, is_leaf=is_state))
