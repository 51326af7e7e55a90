"""README's two commands are the ones CI runs and a user can type; its registry tour runs."""

import ast
import pathlib
import re

import pytest

import registry

ROOT = pathlib.Path(__file__).parents[1]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv[^\n]+)\n```", readme)


def test_readme_holds_install_and_test_commands():
    commands = _commands()
    assert len(commands) == 2, commands
    main, tests = commands
    assert main.endswith("tricks train") and "pip install" in main
    assert "pytest" in tests and '".[test]"' in tests


def test_ci_runs_readmes_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _commands()[1] in ci.splitlines()


def test_registry_tour_runs_as_written():
    """The ```python tour runs, its `# [...]` comments are the values, and the error shown is the one raised."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
        for line in block.splitlines():
            code, _, comment = line.partition("#")
            if comment.strip().startswith("["):
                assert eval(code, namespace) == ast.literal_eval(comment.strip()), line
    errors = re.findall(r"```\n>>> (registry\.build\(.*?\))\nRegistryError: (.*?)\n```", readme)
    assert errors
    for call, shown in errors:
        with pytest.raises(registry.RegistryError) as info:
            eval(call, {"registry": registry})
        assert str(info.value).startswith(shown.removesuffix("...")), (call, shown)
