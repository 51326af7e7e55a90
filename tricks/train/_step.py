"""The pure train and eval steps: what a step computes and the outputs its metrics read."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from tricks import metrics as metrics_lib
from tricks.train._ema import update_ema
from tricks.train._state import TrainState

Batch = dict[str, jax.Array]
Outputs = dict[str, Any]


def make_train_step(
    model,
    optimizer: optax.GradientTransformation,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
    augment: Callable[[Batch, jax.Array, bool], Batch],
    num_classes: int,
    axis_name: str | None = None,
    ema_decay: float = 0.0,
    ema_warmup: bool = False,
) -> Callable[[TrainState, Batch], tuple[TrainState, Outputs]]:
    """One optimization step: augment on the device, loss, gradients, update.

    The returned ``train_step(state, batch) -> (state, outputs)`` is pure; the caller
    jits it (donating the state). ``outputs`` are what the training metrics read
    (`tricks.metrics`): ``loss`` (the batch's objective), ``logits``, ``labels`` (the
    targets' argmax, so mixup's soft targets count as their larger part) and ``grads``
    (for the norms and histograms; a jitted caller that drops them keeps no copy). Its
    randomness is ``fold_in(state.rng, state.step)``, so step k always draws the same
    numbers whatever happened before (exact resume). Under `jax.pmap`, `axis_name`
    names the mapped axis: gradients, loss and metrics are averaged over it. The
    optimizer also receives the batch's objective as Optax's extra arguments (``value``,
    ``grad``, ``value_fn``), which line-search methods such as `lbfgs` use (full-batch
    training) and others ignore. With `ema_decay` > 0 the state is an `EmaTrainState`
    whose average moves after each update (`tricks.train._ema.update_ema`, the decay
    warmed up with `ema_warmup`): a local update of replicated values, no communication.
    """

    optimizer = optax.with_extra_args_support(optimizer)

    def mean(x):
        return x if axis_name is None else jax.lax.pmean(x, axis_name)

    def averaged_grad(params):  # the identity, whose cotangent is averaged over the devices
        return params if axis_name is None else _pmean_cotangent(params, axis_name)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Outputs]:
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
            value_fn=lambda params: mean(objective(averaged_grad(params))[0]),
        )
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, changes),
            batch_stats=updates.get("batch_stats", state.batch_stats),
            opt_state=opt_state,
        )
        if ema_decay:
            new_state = update_ema(new_state, state.step, ema_decay, ema_warmup)
        labels = jnp.argmax(inputs["label"], -1).astype(jnp.int32)
        return new_state, {"loss": loss, "logits": logits.astype(jnp.float32), "labels": labels, "grads": grads,
                           "updates": changes}

    return train_step


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _pmean_cotangent(params, axis_name):
    """The identity, whose cotangent is averaged over `axis_name`: under `pmap`, JAX transposes
    the ``pmean`` in a replicated objective to each device's own gradient, so without it
    ``jax.grad(value_fn)`` (sam's second gradient, lbfgs's line search) would differ per device."""
    return params


_pmean_cotangent.defvjp(lambda params, axis_name: (params, None),
                        lambda axis_name, _, cotangent: (jax.lax.pmean(cotangent, axis_name),))


def make_eval_step(model, num_classes: int, augment: Callable[[Batch, jax.Array, bool], Batch],
                   metrics: metrics_lib.Metrics | None = None) -> Callable:
    """The summed `metrics` of one batch (default: loss and accuracy) and its example count.

    ``eval_step(state, batch) -> ({name: metric}, count)``; merge the batches' metrics
    (`tricks.metrics.Metrics.merge`). Padded examples (``batch["mask"] == 0``) count for
    nothing. The ``loss`` output is the per-example cross-entropy (NLL) whatever the
    training loss, so runs stay comparable.
    """
    metrics = metrics or metrics_lib.Metrics(["loss", "accuracy"], metrics_lib.EVAL_OUTPUTS)

    def eval_step(state: TrainState, batch: Batch) -> tuple[dict[str, Any], jax.Array]:
        targets = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.float32)
        inputs = augment({"image": batch["image"], "label": targets}, jax.random.PRNGKey(0), False)
        logits = model.apply(state.variables(), inputs["image"], train=False).astype(jnp.float32)
        mask = batch.get("mask", jnp.ones(batch["label"].shape, jnp.float32)).astype(jnp.float32)
        outputs = {"logits": logits, "labels": batch["label"].astype(jnp.int32), "mask": mask,
                   "loss": optax.softmax_cross_entropy(logits, targets)}
        return metrics.summed(outputs), jnp.sum(mask)

    return eval_step


def skips_nonfinite(opt_state) -> bool:
    """Whether the optimizer skips non-finite updates (`skip_nonfinite` / `optax.apply_if_finite`)."""
    is_state = lambda node: isinstance(node, optax.ApplyIfFiniteState)  # noqa: E731
    return any(is_state(n) for n in jax.tree.leaves(opt_state, is_leaf=is_state))
