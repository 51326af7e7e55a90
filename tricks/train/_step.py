"""The jitted train and eval steps, with metrics accumulated on the device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from tricks.train._state import TrainState

Batch = dict[str, jax.Array]
Sums = dict[str, jax.Array]


def zero_sums(params: Any = None) -> Sums:
    """Empty running sums of the per-step training metrics (kept on the device).

    With `params`, the sums include per-layer gradient norms, of the same structure as
    the step's output (so a jitted step that donates them never retraces).
    """
    from tricks.diagnostics import zero_layer_norms

    extra = {} if params is None else {"grads": jax.tree.map(jnp.zeros_like, params)}
    return extra | {
        "layer_grad_norm": {} if params is None else zero_layer_norms(params),
        "loss": jnp.zeros((), jnp.float32),
        "accuracy": jnp.zeros((), jnp.float32),
        "grad_norm": jnp.zeros((), jnp.float32),
        "count": jnp.zeros((), jnp.int32),
        "first_nonfinite": jnp.full((), -1, jnp.int32),
    }


def reset_sums(sums: Sums) -> Sums:
    """`sums` started afresh, as `zero_sums` gives them, inside a jitted call (no call of
    its own after each log step). The latest gradients are kept: each step overwrites them.

    Examples:
        >>> sums = zero_sums() | {"loss": jnp.float32(2.0), "count": jnp.int32(4)}
        >>> fresh = reset_sums(sums)
        >>> float(fresh["loss"]), int(fresh["count"]), int(fresh["first_nonfinite"])
        (0.0, 0, -1)
    """
    return sums | zero_sums() | {"layer_grad_norm": jax.tree.map(jnp.zeros_like, sums["layer_grad_norm"])}


def make_train_step(
    model,
    optimizer: optax.GradientTransformation,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
    augment: Callable[[Batch, jax.Array, bool], Batch],
    num_classes: int,
    axis_name: str | None = None,
) -> Callable[[TrainState, Batch, Sums], tuple[TrainState, Sums]]:
    """One optimization step: augment on the device, loss, gradients, update, metrics.

    The returned function is pure; the caller jits it (donating state and sums). Its
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

    def train_step(state: TrainState, batch: Batch, sums: Sums) -> tuple[TrainState, Sums]:
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
        finite = jnp.isfinite(loss)
        from tricks.diagnostics import per_layer_grad_norms

        layer_norms = per_layer_grad_norms(grads)
        new_sums = {
            "layer_grad_norm": {k: sums["layer_grad_norm"].get(k, 0.0) + v for k, v in layer_norms.items()},
            "loss": sums["loss"] + loss.astype(jnp.float32),
            "accuracy": sums["accuracy"] + mean(jnp.mean(correct.astype(jnp.float32))),
            "grad_norm": sums["grad_norm"] + jnp.sqrt(sum(jnp.square(v) for v in layer_norms.values())),
            "count": sums["count"] + 1,
            "first_nonfinite": jnp.where(
                (sums["first_nonfinite"] < 0) & ~finite, state.step, sums["first_nonfinite"]
            ),
        }
        if "grads" in sums:  # the latest gradients, for histograms at log steps
            new_sums["grads"] = grads
        return new_state, new_sums

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


def param_norm(params: Any) -> jax.Array:
    """The global L2 norm of the parameters."""
    return optax.tree.norm(params)
