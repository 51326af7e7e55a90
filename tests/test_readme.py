"""README's two commands are the ones CI runs and a user can type."""

import pathlib
import re

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
