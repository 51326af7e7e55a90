"""Spec rewriting: arguments reached in nested specs of the same kind, positional arguments, forms."""

import ml_collections
import pytest

import registry
from tricks.diagnostics import as_spec, override


@pytest.mark.parametrize(
    "spec",
    [
        "sgd(0.1, momentum=0.9)",
        {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
        ml_collections.ConfigDict({"name": "sgd", "learning_rate": 0.1, "momentum": 0.9}),
        registry.Spec("sgd", (0.1,), {"momentum": 0.9}),
    ],
)
def test_every_spec_form(spec):
    assert str(override("optimizer", spec, {"learning_rate": 0.5})) == "sgd(learning_rate=0.5, momentum=0.9)"


def test_nested_wrappers_and_only_changes():
    spec = {
        "name": "weight_decay",
        "weight_decay": 1e-4,
        "optimizer": "clip_by_global_norm(adamw(learning_rate=1e-3, weight_decay=0.1), max_norm=1.0)",
    }
    new = override("optimizer", spec, {"weight_decay": 0.0}, only_changes=True)
    assert str(new) == (
        "weight_decay(optimizer=clip_by_global_norm(optimizer=adamw(learning_rate=0.001, "
        "weight_decay=0.0), max_norm=1.0), weight_decay=0.0)"
    )
    registry.build("optimizer", new)
    untouched = override("optimizer", "adam(learning_rate=1e-3)", {"weight_decay": 0.0}, only_changes=True)
    assert untouched == as_spec("adam(learning_rate=1e-3)")
    schedules_stay = override(
        "optimizer", "sgd(learning_rate='cosine(init_value=0.1, decay_steps=5)')", {"decay_steps": 9}
    )
    assert "decay_steps=5" in str(schedules_stay)  # another kind is not entered


def test_unknown_component_and_bad_form():
    with pytest.raises(registry.RegistryError, match="did you mean 'adam'"):
        override("optimizer", "adma", {})
    with pytest.raises(registry.RegistryError, match="expected a spec"):
        as_spec(3)
