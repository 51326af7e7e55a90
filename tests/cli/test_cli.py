"""The `tricks` command: help, list, show, and clear errors."""

import subprocess
import sys

import pytest

import registry
import tricks  # noqa: F401  (registers the components)
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


def test_list_prints_kind_name_signature_and_summary(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # (the columns are cut to the terminal's width, whatever runs the test)
    assert main(["list", "optimizer", "adamw*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kind", "name", "signature", "summary"]
    rows = {line.split()[1]: line for line in lines[2:]}
    assert sorted(rows) == ["adamw"]
    assert rows["adamw"].startswith("optimizer")
    assert "(learning_rate: float | Callable = 0.001" in rows["adamw"]
    assert "AdamW" in rows["adamw"]


def test_list_a_word_matches_names_containing_it(capsys):
    assert main(["list", "optimizer", "adam"]) == 0
    names = [line.split()[1] for line in capsys.readouterr().out.splitlines()[2:]]
    assert names == [name for name in registry.names("optimizer") if "adam" in name]  # every one, in order
    assert {"adam", "adamw", "nadam", "schedule_free_adamw"} <= set(names)


def test_list_without_match_suggests_names(capsys):
    assert main(["list", "schedule", "cosin_decay"]) == 1
    out = capsys.readouterr().out
    assert "no components match 'cosin_decay' in kind 'schedule' (did you mean 'cosine'" in out


def test_list_every_kind(capsys):
    import registry

    assert main(["list"]) == 0
    kinds = {line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]}
    assert kinds == set(registry.kinds())


def test_show_prints_signature_defaults_and_docstring(capsys):
    assert main(["show", "optimizer", "adamw"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("optimizer adamw(learning_rate: float | Callable = 0.001, b1:")
    assert "  weight_decay: float | Callable = 0.0001  (a spec of kind 'schedule' is accepted)" in out
    assert "AdamW (Loshchilov & Hutter 2019)" in out and "Examples:" in out


def test_show_unknown_name_suggests(capsys):
    assert main(["show", "optimizer", "adamww"]) == 2
    assert "optimizer 'adamww': unknown name (did you mean 'adamw'" in capsys.readouterr().out


def test_overrides_are_refused_by_commands_without_a_config(capsys):
    with pytest.raises(SystemExit):
        main(["list", "optimizer", "--config.seed=1"])
    err = capsys.readouterr().err
    assert "list: unrecognized argument '--config.seed=1' (this command takes no config)" in err
