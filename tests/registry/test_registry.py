"""The registry contract of DESIGN.md, on a private registry per test."""

import pathlib
import re
import warnings

import ml_collections
import pytest

import registry
from registry import RegistryError


def test_build_name_call_string_and_mapping(reg):
    assert reg.build("optimizer", "adam")["learning_rate"] == 1e-3
    assert reg.build("optimizer", "adamw(learning_rate=3e-4, weight_decay=0.05)")["weight_decay"] == 0.05
    built = reg.build("optimizer", {"name": "sgd", "learning_rate": 0.1, "nesterov": True})
    assert built["nesterov"] is True and built["learning_rate"] == 0.1


def test_nested_specs_are_built_recursively(reg):
    opt = reg.build(
        "optimizer",
        {"name": "sgd", "learning_rate": {"name": "cosine", "init_value": 0.1, "decay_steps": 10},
         "momentum": "constant(0.9)"},
    )
    assert opt["learning_rate"](3) == ("cosine", 0.1, 10, 0.0, 3)
    assert opt["momentum"](5) == 0.9
    sched = reg.build("schedule", "warmup(cosine(init_value=0.1, decay_steps=900), warmup_steps=100)")
    assert sched(7) == ("warmup", ("cosine", 0.1, 900, 0.0, 7), 100, "linear")
    joined = reg.build("schedule", "join(['constant(1.0)', cosine(init_value=1, decay_steps=2)], [5])")
    assert [s(0) for s in joined[1]] == [1.0, ("cosine", 1, 2, 0.0, 0)]


def test_configdict_is_a_spec(reg):
    cfg = ml_collections.ConfigDict({"name": "sgd", "learning_rate": "constant(value=0.5)"})
    assert reg.build("optimizer", cfg)["learning_rate"](0) == 0.5


def test_plain_strings_stay_strings_where_no_kind_is_declared(reg):
    assert reg.build("schedule", "warmup(constant(1.0), 3, mode='constant')")(0)[3] == "constant"


def test_unknown_name_suggests_closest(reg):
    with pytest.raises(RegistryError, match=r"optimizer 'adamww': unknown name \(did you mean 'adamw'"):
        reg.build("optimizer", "adamww(learning_rate=0.1)")


def test_alternatives_are_suggested_first_and_only_for_unknown_names(reg):
    asked = []

    @reg.alternatives("optimizer")
    def elsewhere(name):
        asked.append(name)
        return [f"external(name={name!r})"] if name.startswith("adam") else []

    with pytest.raises(RegistryError, match=r"unknown name \(did you mean external\(name='adamww'\) or 'adamw"):
        reg.build("optimizer", "adamww")
    with pytest.raises(RegistryError, match=r"'sgdd': unknown name \(did you mean 'sgd'\?\)"):
        reg.build("optimizer", "sgdd")
    with pytest.raises(RegistryError, match=r"schedule 'adamw': unknown name; 'adamw' is of kind"):
        reg.build("schedule", "adamw")  # another kind's alternatives are not asked
    reg.build("optimizer", "adam")
    assert asked == ["adamww", "sgdd"]


def test_name_of_another_kind_is_explained(reg):
    with pytest.raises(RegistryError, match="'cosine' is of kind 'schedule', not 'optimizer'"):
        reg.build("optimizer", "cosine")


def test_unknown_kind_suggests(reg):
    with pytest.raises(RegistryError, match=r"unknown kind 'optimiser' \(did you mean 'optimizer'\?\)"):
        reg.build("optimiser", "adam")


def test_unknown_argument_names_kind_component_argument_and_choices(reg):
    with pytest.raises(RegistryError) as info:
        reg.build("optimizer", "adamw(wieght_decay=0.1)")
    message = str(info.value)
    assert "optimizer 'adamw'" in message and "argument 'wieght_decay'" in message
    assert "did you mean 'weight_decay'" in message
    assert "valid arguments: b1, learning_rate, weight_decay" in message
    assert info.value.argument == "wieght_decay"


def test_missing_required_argument(reg):
    with pytest.raises(RegistryError, match="schedule 'cosine': argument 'decay_steps': required but not given"):
        reg.build("schedule", "cosine(init_value=0.1)")


def test_wrong_type_names_given_and_expected(reg):
    with pytest.raises(RegistryError, match=r"argument 'decay_steps': got 'ten' \(str\); expected int"):
        reg.build("schedule", "cosine(0.1, 'ten')")
    with pytest.raises(RegistryError, match=r"argument 'nesterov': got 1 \(int\); expected bool"):
        reg.build("optimizer", "sgd(0.1, nesterov=1)")
    with pytest.raises(RegistryError, match=r"expected 'linear' \| 'constant'"):
        reg.build("schedule", "warmup(0.1, 3, mode='cubic')")


def test_int_is_fine_where_float_is_expected_but_bool_is_not(reg):
    assert reg.build("schedule", "constant(1)")(0) == 1
    with pytest.raises(RegistryError, match="expected float"):
        reg.build("schedule", "constant(True)")


def test_too_many_positional_and_given_twice(reg):
    with pytest.raises(RegistryError, match="takes at most 3 positional argument"):
        reg.build("schedule", "cosine(1, 2, 3, 4)")
    with pytest.raises(RegistryError, match="argument 'init_value': given twice"):
        reg.build("schedule", "cosine(1, init_value=2, decay_steps=3)")


def test_value_errors_from_the_factory_gain_context(reg):
    with pytest.raises(RegistryError, match=r"optimizer 'adamw': argument 'b1': must be in \[0, 1\), got 1.5"):
        reg.build("optimizer", "adamw(b1=1.5)")


def test_nested_errors_show_the_path(reg):
    with pytest.raises(RegistryError) as info:
        reg.build("optimizer", "sgd(learning_rate=cosine(init_value=0.1, decay_steps=0))")
    assert str(info.value) == (
        "optimizer 'sgd': argument 'learning_rate': schedule 'cosine': argument 'decay_steps': must be > 0, got 0"
    )


def test_register_twice_raises(reg):
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("optimizer", "adam")(lambda: None)


@pytest.mark.parametrize("bad", ["1abc", "a-b", "", None])
def test_register_rejects_bad_names(reg, bad):
    with pytest.raises(RegistryError):
        reg.register("optimizer", bad)(lambda: None)


def test_names_kinds_get_describe(reg):
    assert reg.kinds() == ["optimizer", "schedule"]
    assert reg.names("optimizer") == ["adam", "adamw", "sgd"]
    assert reg.names("optimizer", "*adam*") == ["adam", "adamw"]
    assert reg.get("schedule", "constant")(2.0)(0) == 2.0
    description = reg.describe("optimizer", "sgd")
    assert description.summary == "Stochastic gradient descent."
    assert description.signature == (
        "(learning_rate: float | Callable, momentum: float | Callable | None = None, nesterov: bool = False)"
    )
    assert description.parameters[0].kind == "schedule" and description.parameters[0].required
    assert "a spec of kind 'schedule' is accepted" in str(description)


def test_registries_are_independent(reg):
    other = registry.Registry()
    assert other.kinds() == []
    assert "adam" not in registry.default._entries.get("optimizer", {}) or reg is not registry.default


def test_spec_round_trip():
    text = "warmup(cosine(init_value=0.1, decay_steps=90), warmup_steps=10, mode='linear')"
    assert str(registry.parse(text)) == text
    assert registry.parse(str(registry.parse("f(x=[1, (2,)], y={'a': -1.5})"))) == registry.parse(
        "f(x=[1, (2,)], y={'a': -1.5})"
    )


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("__import__('os').system('touch /tmp/pwned')", "attribute access is not allowed"),
        ("sgd(learning_rate=os.environ)", "attribute access is not allowed"),
        ("sgd(learning_rate=(lambda: 1)())", "lambdas are not allowed"),
        ("sgd(learning_rate=max(1))", "schedule 'max': unknown name"),
        ("sgd(learning_rate=lambda: 1)", "lambdas are not allowed"),
        ("sgd(learning_rate=[x for x in y])", "comprehensions are not allowed"),
        ("sgd(learning_rate=f'{1}')", "f-strings are not allowed"),
        ("sgd(*args)", "starred arguments are not allowed"),
        ("sgd(**kw)", "'**' arguments are not allowed"),
        ("sgd(learning_rate=1+2)", "arithmetic is not allowed"),
        ("sgd(learning_rate=x[0])", "subscripts are not allowed"),
        ("sgd(learning_rate=b'1')", "of type bytes is not allowed"),
        ("sgd(", "not a name or call"),
        ("0.1", "must be a name or a call"),
        ("sgd(a=1, a=2)", "given twice"),
        ("", "empty spec"),
    ],
)
def test_unsafe_or_malformed_specs_are_refused(reg, text, fragment, tmp_path):
    with pytest.raises(RegistryError, match=re.escape(fragment)):
        reg.build("optimizer", text)
    assert not pathlib.Path("/tmp/pwned").exists()


def test_deeply_nested_specs_are_a_registry_error(reg):
    spec = 0.1
    for _ in range(5000):
        spec = {"name": "warmup", "schedule": spec, "warmup_steps": 1}
    with pytest.raises(RegistryError, match="schedule': the spec is nested too deeply"):
        reg.build("schedule", spec)
    text = "warmup(" * 1000 + "0.1" + ", 1)" * 1000
    with pytest.raises(RegistryError, match="nested") as info:
        reg.build("schedule", text)
    assert len(str(info.value)) < 300  # the spec is quoted with its middle elided


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"learning_rate": 0.1}, "needs a 'name' key"),
        ({"name": 3}, "must be a component name"),
        ({"name": "sgd", 3: 1}, "argument names must be identifiers"),
        (3.0, "expected a spec"),
        (["sgd"], "expected a spec"),
    ],
)
def test_malformed_mappings_are_refused(reg, spec, fragment):
    with pytest.raises(RegistryError, match=fragment):
        reg.build("optimizer", spec)


def test_registry_error_is_a_value_error():
    assert issubclass(RegistryError, ValueError)


def test_broken_plugin_warns_and_builtins_survive(monkeypatch):
    import importlib.metadata

    class EntryPoint:
        def __init__(self, name, value, obj=None, error=None):
            self.name, self.value, self.obj, self.error = name, value, obj, error

        def load(self):
            if self.error:
                raise self.error
            return self.obj

    called = []
    points = [
        EntryPoint("broken", "broken_pkg.plugin", error=ImportError("No module named 'broken_pkg'")),
        EntryPoint("good", "good_pkg:register", obj=lambda: called.append(True)),
    ]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points if group == "test.group" else [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = registry.load_plugins("test.group")
    assert loaded == ["good"] and called == [True]
    assert any("plugin 'broken' (broken_pkg.plugin)" in str(w.message) for w in caught)
    assert registry.load_plugins("test.group") == ["good"] and called == [True]  # loaded once only
