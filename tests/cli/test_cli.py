"""The `tricks` command: help, list, show, and clear errors."""

import subprocess
import sys

import pytest

from tools.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "list" in out and "show" in out


def test_each_command_has_useful_help(capsys):
    from tools import commands

    for name in commands.discover():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        out = capsys.readouterr().out
        assert f"tricks {name}" in out and "Examples" in out, name


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_kind_is_a_clear_error(capsys):
    assert main(["show", "optimiser", "adam"]) == 2
    assert "unknown kind 'optimiser'" in capsys.readouterr().out


def test_stray_argument_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["list", "x", "y", "--bogus"])
    assert "unrecognized argument '--bogus'" in capsys.readouterr().err


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from tools.cli import main; sys.exit(main(['--help']))"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0 and "tricks" in result.stdout
