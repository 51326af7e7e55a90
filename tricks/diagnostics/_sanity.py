"""Overfit a tiny subset first (SPEC §7): a model that cannot reach 100% training accuracy
on 64 examples has a bug in the model, the loss or the pipeline, and it shows in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from tricks import metrics as metrics_lib
from tricks import train
from tricks.diagnostics._specs import as_spec, canonical, override

REGULARIZATION = {"dropout": 0.0, "conv_dropout": 0.0, "dense_dropout": 0.0}
"""Model arguments set to 0 for the check (where the model has them and they are not 0 already)."""


@dataclasses.dataclass(frozen=True)
class SanityResult:
    """What `overfit_check` found.

    Attributes:
        reached: training accuracy reached 100% on the subset.
        steps_to_fit: the first step (counting from 1) after which the training batch
            was classified without error; None if never.
        losses: training loss at each step run.
        accuracies: training accuracy at each step run.
        eval_accuracy: accuracy on the subset in evaluation mode after the last step.
        examples: the subset's size.
        stripped: what was removed from the config (``"field: old -> new"`` lines).
        config: the config actually trained.
    """

    reached: bool
    steps_to_fit: int | None
    losses: np.ndarray
    accuracies: np.ndarray
    eval_accuracy: float
    examples: int
    stripped: list[str]
    config: ml_collections.ConfigDict

    def summary(self) -> str:
        """One line: reached or not, after how many steps, the final loss."""
        if self.reached:
            head = f"PASS: 100% training accuracy on {self.examples} examples after {self.steps_to_fit} steps"
        else:
            head = (
                f"FAIL: training accuracy {self.accuracies.max():.1%} at best on {self.examples} examples "
                f"after {len(self.losses)} steps"
            )
        return f"{head}; final loss {self.losses[-1]:.4g}, evaluation-mode accuracy {self.eval_accuracy:.1%}"


def strip_regularization(config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, list[str]]:
    """`config` without augmentation or regularization, and the list of what changed.

    Stripped: every augmentation runs in its evaluation form (normalization stays,
    random transforms and mixup do not apply); dropout rates of the model (``dropout``,
    ``conv_dropout``, ``dense_dropout``) -> 0; every ``weight_decay`` of the optimizer
    (nested wrappers included) -> 0; the loss's ``label_smoothing`` -> 0;
    ``class_balanced`` sampling -> off. Kept: the model, the loss, batch norm, the
    optimizer and its schedules.

    A default counts as given (``adamw``'s decay of 1e-4 is stripped too), and only what
    really changes is listed and rewritten: specs are compared in `canonical` form, so a
    spec that is only spelled differently (positional arguments, a default written out,
    ``weight_decay=0``) stays as it is in the config. Each line shows both specs spelled
    alike, every argument by keyword.

    Examples:
        >>> import ml_collections, tricks
        >>> cfg = ml_collections.ConfigDict({
        ...     "model": "mlp(dropout=0.5)", "optimizer": "adamw(weight_decay=0.1)",
        ...     "loss": "cross_entropy(label_smoothing=0.1)", "augment": ["random_flip"]})
        >>> _, stripped = strip_regularization(cfg)
        >>> stripped
        ['augment: random_flip (evaluation form)', 'model: mlp(dropout=0.5) -> mlp(dropout=0.0)', ...]
    """
    from tricks.train import complete

    config = complete(config)
    stripped = [f"augment: {_text(a)} (evaluation form)" for a in config.augment]
    changes = {"model": REGULARIZATION, "optimizer": {"weight_decay": 0.0}, "loss": {"label_smoothing": 0.0}}
    new = config.to_dict()
    for kind, values in changes.items():  # each field is a spec of the kind of its name
        spec = override(kind, config[kind], values, only_changes=True)
        if canonical(kind, spec) != canonical(kind, config[kind]):
            stripped.append(f"{kind}: {override(kind, config[kind], {})} -> {spec}")
            new[kind] = str(spec)
    if config.class_balanced:
        stripped.append("class_balanced: True -> False")
        new["class_balanced"] = False
    return ml_collections.ConfigDict(new), stripped


def _text(spec: Any) -> str:
    return str(as_spec(spec)) if not isinstance(spec, str) else spec


def overfit_check(
    config: ml_collections.ConfigDict, examples: int = 64, max_steps: int = 500, check_every: int = 10
) -> SanityResult:
    """Trains on the first `examples` training examples (one full batch per step) until 100%.

    The config's regularization is stripped first (`strip_regularization`); the model,
    loss, optimizer (with its schedule) and train step are the run's own
    (`tricks.train.make_train_step`). Steps run `check_every` at a time inside one
    jitted `jax.lax.scan` (on a CPU the step's convolutions laid out, as the training
    loop's: `tricks.train.canonical_convolutions`); the run stops after the group in
    which the training accuracy first reaches 100%.

    Args:
        config: a training config.
        examples: the subset's size (taken in the training split's stored order).
        max_steps: give up after this many steps.
        check_every: steps per jitted group.

    Raises:
        ValueError: `examples` < 1 or more than the training split holds; `max_steps` < 1.

    Examples:
        >>> import tempfile
        >>> from tricks.train import default_config
        >>> cfg = default_config()
        >>> cfg.dataset = f"digits(data_dir={tempfile.mkdtemp()!r})"
        >>> result = overfit_check(cfg, examples=32, max_steps=100)
        >>> result.reached, result.steps_to_fit <= 100
        (True, True)
    """
    if max_steps < 1 or check_every < 1:
        raise ValueError(f"max_steps and check_every must be >= 1, got {max_steps} and {check_every}")
    config, stripped = strip_regularization(config)
    config.parallel = "sharded"  # the steps are jitted here, as one program over the devices
    run = train.setup(config)  # the run's own components and initial state
    parts = run.components
    x, y = parts.dataset.arrays("train")
    if not 1 <= examples <= len(y):
        raise ValueError(f"examples must be in [1, {len(y)}] (the training split's size), got {examples}")
    batch = {"image": jnp.asarray(x[:examples]), "label": jnp.asarray(y[:examples])}
    state = run.state
    step = train.make_train_step(
        parts.model,
        parts.optimizer,
        parts.loss,
        lambda b, k, training: parts.augment(b, k, False),
        parts.num_classes,
    )

    accuracy = metrics_lib.Metrics(["accuracy"], metrics_lib.EVAL_OUTPUTS)  # the metric training records

    laid_out = train.canonical_convolutions(step)

    @functools.partial(jax.jit, static_argnums=1)
    def group(state, length):
        def one(state, _):
            state, outputs = laid_out(state, batch)
            return state, (outputs["loss"], accuracy.summed(outputs))

        return jax.lax.scan(one, state, None, length=length)

    losses, accuracies = [], []
    while len(losses) < max_steps:
        state, (loss, summed) = group(state, min(check_every, max_steps - len(losses)))
        summed = jax.device_get(summed)
        losses += np.asarray(loss).tolist()
        accuracies += [accuracy.compute(jax.tree.map(lambda x: x[i], summed))["accuracy"] for i in range(len(loss))]
        if max(accuracies[-len(loss):]) >= 1.0 or not np.all(np.isfinite(loss)):
            break
    losses, accuracies = np.array(losses), np.array(accuracies)
    fitted = np.flatnonzero(accuracies >= 1.0)
    logits = parts.model.apply(
        state.variables(),
        parts.augment(
            {"image": batch["image"], "label": jax.nn.one_hot(batch["label"], parts.num_classes)},
            jax.random.key(0),
            False,
        )["image"],
        train=False,
    )
    eval_accuracy = accuracy.compute(accuracy.summed({"logits": logits, "labels": batch["label"]}))["accuracy"]
    steps_to_fit = int(fitted[0]) + 1 if fitted.size else None
    return SanityResult(
        fitted.size > 0, steps_to_fit, losses, accuracies, eval_accuracy, examples, stripped, config
    )
