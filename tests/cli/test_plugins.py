"""Third-party components through the `tricks.plugins` entry points, in a fresh interpreter."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[2]
BUILT_IN_KINDS = ["augment", "dataset", "ensemble", "init", "loss", "model", "optimizer", "parallel",
                  "schedule"]
SCRIPT = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import registry, tricks
print(json.dumps({
    "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
    "kinds": registry.kinds(),
    "adamw": type(registry.build("optimizer", "adamw(learning_rate=0.1)")).__name__,
    "plugin": registry.build("schedule", "halved(0.5)")(3),
}))
"""


def _distribution(site: pathlib.Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tricks.plugins]\n{entry_points}\n")


def test_a_broken_plugin_warns_and_the_rest_keeps_working(tmp_path):
    _distribution(tmp_path, "broken_plugin", "broken = broken_plugin_missing.components")
    _distribution(tmp_path, "good_plugin", "good = good_plugin")
    (tmp_path / "good_plugin.py").write_text(
        "import registry\n\n"
        "@registry.register('schedule')\n"
        "def halved(value: float):\n"
        "    'Half of value at every step.'\n"
        "    return lambda step: value / 2\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT,
                            check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["warnings"]) == 1
    assert "plugin 'broken' (broken_plugin_missing.components)" in report["warnings"][0]
    assert "No module named 'broken_plugin_missing'" in report["warnings"][0]
    assert set(BUILT_IN_KINDS) <= set(report["kinds"])
    assert report["adamw"].startswith("GradientTransformation")
    assert report["plugin"] == 0.25


ALL_MODULES = """
import importlib, json, pkgutil
import registry, tricks
def components():
    return sorted(f"{kind}/{name}" for kind in registry.kinds() for name in registry.names(kind))
first = components()
for info in pkgutil.walk_packages(tricks.__path__, "tricks."):
    importlib.import_module(info.name)
print(json.dumps({"after_import_tricks": first, "after_every_module": components()}))
"""


def test_import_tricks_alone_registers_every_built_in_component():
    """Importing every module of the package afterwards adds no component: nothing depends on import order."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", ALL_MODULES], capture_output=True, text=True, env=env,
                            cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["after_every_module"] == report["after_import_tricks"]
    assert {c.split("/")[0] for c in report["after_import_tricks"]} >= set(BUILT_IN_KINDS)
