"""'tricks hessian' on a real workdir, and its bad inputs."""

import json

from tools.cli import main
from tricks import diagnostics


def test_hessian_of_a_checkpoint(trained_run, tmp_path, capsys):
    output = tmp_path / "h.png"
    code = main(
        [
            "hessian",
            "--workdir",
            str(trained_run),
            "--step",
            "15",
            "--k",
            "5",
            "--batches",
            "2",
            "--batch-size",
            "32",
            "--iters",
            "30",
            "--probes",
            "2",
            "-o",
            str(output),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{trained_run}, step 15" in out and "parameters: 610" in out and "(exact, full spectrum)" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 5  # the table's rows
    assert output.stat().st_size > 10_000


def test_the_loaded_state_is_the_checkpoint(trained_run):
    run = diagnostics.load_run(trained_run)
    assert run.step == 30 and int(run.state.step) == 30
    assert int(diagnostics.load_run(trained_run, 15).state.step) == 15
    assert diagnostics.checkpoint_steps(trained_run) == [15, 30]


def test_bad_input(trained_run, tmp_path, capsys):
    assert main(["hessian", "--workdir", str(trained_run), "--k", "611"]) == 2
    assert "k must be between 1 and the number of parameters (610), got 611" in capsys.readouterr().out
    assert main(["hessian", "--workdir", str(trained_run), "--step", "7"]) == 2
    assert "no checkpoint at step 7; steps saved: [15, 30]" in capsys.readouterr().out
    assert main(["hessian", "--workdir", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["hessian", "--workdir", str(empty)]) == 2
    assert "holds no config.json" in capsys.readouterr().out
    (empty / "config.json").write_text(json.dumps({"seed": 0}))
    assert main(["hessian", "--workdir", str(empty)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().out
    assert not (empty / "checkpoints").exists()  # looking created nothing
