"""The public API's docstrings carry examples, and the suite runs them as doctests."""

import inspect
import pathlib
import tomllib

import pytest

import registry
from tricks import config

ROOT = pathlib.Path(__file__).parents[1]


def _public_api():
    for module in (registry, config):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj):
                yield f"{module.__name__}.{name}", obj
    for name, method in inspect.getmembers(registry.Registry, inspect.isfunction):
        if not name.startswith("_"):
            yield f"registry.Registry.{name}", method


@pytest.mark.parametrize("name, obj", list(_public_api()), ids=lambda x: x if isinstance(x, str) else "")
def test_public_api_has_a_runnable_example(name, obj):
    assert ">>> " in (inspect.getdoc(obj) or ""), f"{name} has no Examples: block"


def test_the_suite_runs_the_doctests_of_every_package():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"]
    assert {"tests", "registry", "tricks", "tools"} <= set(options["testpaths"])
