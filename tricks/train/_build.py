"""Builds a run's components from its config, and checks that they fit together."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import ml_collections
import optax

import registry
from tricks.config import ConfigError
from tricks.train._state import create_state


@dataclasses.dataclass(frozen=True)
class Components:
    """Everything a run is made of, built from its config."""

    dataset: Any
    model: Any
    loss: Callable
    augment: Callable
    optimizer: optax.GradientTransformation
    num_classes: int
    num_steps: int = 0
    notes: tuple[str, ...] = ()


def build_components(config: ml_collections.ConfigDict, model_axis_name: str | None = None) -> Components:
    """Builds dataset, model (num_classes from the dataset unless set), loss, augment, optimizer.

    With `model_axis_name` (data-parallel `pmap`), the model is built with that
    ``axis_name`` when its factory takes one, so batch norm averages across devices. A
    ``precision`` other than float32 is given to the model as its ``dtype``. The
    optimizer's schedules get the lengths they leave out from the run's (`num_steps`, or
    `num_epochs` of the training split; `tricks.schedules.fit_to_run`), and
    `Components.notes` says where a given length differs from it.

    Raises:
        registry.RegistryError: an unknown component or a bad argument.
        ConfigError: ``precision`` bfloat16 for a model that takes no ``dtype``, or whose
            spec names another.
    """
    from tricks import augment as augment_lib
    from tricks import data as data_lib
    from tricks import schedules as schedules_lib

    dataset = config.dataset
    if not isinstance(dataset, data_lib.Dataset):  # a spec (from Python, a Dataset may be given itself)
        plain = dataset.to_dict() if hasattr(dataset, "to_dict") else dataset
        if isinstance(plain, Mapping) and plain.get("name") == data_lib.IN_MEMORY:
            raise ConfigError(
                f"this run trained on arrays given in memory ({plain.get('dataset')}, tricks.data.from_arrays), "
                "which are not saved with it: pass them again, tricks.train.load(workdir, dataset=from_arrays(...)), "
                "or save them with numpy.savez and train with dataset=\"arrays(path='data.npz')\"")
        dataset = registry.build("dataset", dataset)
    num_steps = config.num_steps
    if num_steps <= 0:
        train_examples = len(dataset.source("train")) if "train" in dataset.splits else 0
        num_steps = config.num_epochs * data_lib.Layout(train_examples, config.batch_size, 0, 1,
                                                        drop_remainder=True).steps_per_epoch
        if num_steps > 2**31 - 1:
            raise ConfigError(f"num_epochs {config.num_epochs} of {num_steps // config.num_epochs} steps each is "
                              f"{num_steps} steps, more than the int32 step counter holds (2**31 - 1); lower "
                              f"num_epochs or set num_steps")
    num_classes = int(dataset.num_classes)
    model_spec = with_default(config.model, "num_classes", num_classes)
    if model_axis_name is not None:
        if "axis_name" in inspect.signature(registry.get("model", model_spec.name)).parameters:
            model_spec = with_default(model_spec, "axis_name", model_axis_name)
    model_spec = _with_precision(model_spec, config.get("precision", "float32"))
    model = registry.build("model", model_spec)
    loss = registry.build("loss", config.loss).prepare(dataset.class_counts("train"))
    augment = augment_lib.compose([registry.build("augment", spec) for spec in config.augment])
    optimizer_spec, notes = schedules_lib.fit_to_run("optimizer", config.optimizer, num_steps)
    optimizer = registry.build("optimizer", optimizer_spec)
    return Components(dataset, model, loss, augment, optimizer, num_classes, num_steps,
                      tuple(f"optimizer: {note}" for note in notes))


def with_default(spec: Any, key: str, value: Any) -> registry.Spec:
    """`spec` as a parsed `registry.Spec`, with ``key=value`` added unless it is given.

    Examples:
        >>> str(with_default("mlp(widths=(64,))", "num_classes", 10))
        'mlp(widths=(64,), num_classes=10)'
        >>> str(with_default({"name": "cnn", "num_classes": 3}, "num_classes", 10))
        'cnn(num_classes=3)'
    """
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    if isinstance(spec, str):
        spec = registry.parse(spec)
    elif isinstance(spec, dict):
        spec = registry.Spec(spec.get("name"), (), {k: v for k, v in spec.items() if k != "name"})
    if not isinstance(spec, registry.Spec):
        raise registry.RegistryError(f"expected a model spec, got {spec!r}")
    if key in spec.kwargs or spec.args:
        return spec
    return registry.Spec(spec.name, spec.args, {**spec.kwargs, key: value})


def _with_precision(spec: registry.Spec, precision: str) -> registry.Spec:
    """The model spec computing in `precision` (its ``dtype``); float32 leaves it as it is."""
    if precision == "float32":
        return spec
    if "dtype" not in inspect.signature(registry.get("model", spec.name)).parameters:
        raise ConfigError(f"precision={precision!r}: model {spec.name!r} takes no dtype argument, so it can only "
                          f"compute in float32; set precision='float32', or give its factory a dtype argument "
                          f"(see tricks.models.mlp)")
    given = spec.kwargs.get("dtype", precision)
    if given != precision:
        raise ConfigError(f"precision={precision!r}, but the model spec {spec} says dtype={given!r}; "
                          f"drop dtype from the model spec (precision sets it)")
    return with_default(spec, "dtype", precision)


def create_checked_state(components: Components, example: jax.Array, seed: int, names: tuple[str, str]):
    """The initial `TrainState`, with clear errors if the model does not fit the dataset.

    Args:
        example: one batch of inputs (B, *input_shape).
        names: (model spec, dataset spec), for the messages.

    Raises:
        ConfigError: the model cannot take the dataset's inputs, or its output is not
            (num_classes,) per example (both shapes are named).
    """
    model, num_classes = components.model, components.num_classes
    try:
        state = create_state(model, components.optimizer, example, seed)
        out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), state.variables(), example)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, registry.RegistryError):
            raise
        raise ConfigError(
            f"model {names[0]} cannot take the inputs of dataset {names[1]}, of shape "
            f"{tuple(example.shape[1:])} per example: {type(exc).__name__}: {exc}"
        ) from None
    if out.shape != (example.shape[0], num_classes):
        raise ConfigError(
            f"model {names[0]} outputs shape {tuple(out.shape[1:])} per example, but dataset {names[1]} "
            f"has {num_classes} classes, so ({num_classes},) is expected; drop num_classes from the model "
            f"spec (it is filled in from the dataset) or set it to {num_classes}"
        )
    return state
