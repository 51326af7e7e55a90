"""--force with a config whose state cannot carry over (#15 item 13) is refused in one line
before anything is written; the run's own command still resumes it."""

import pytest

from tools.cli import main
from tricks import train
from tricks.config import ConfigError

SGD = "sgd(learning_rate=0.1, momentum=0.9)"


def quick(**fields):
    cfg = train.default_config()  # adamw
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.progress, cfg.eval_splits = 6, 3, 3, False, ["test"]
    for key, value in fields.items():
        cfg[key] = value
    return cfg


@pytest.fixture
def adamw_run(tmp_path):
    train.train_and_evaluate(quick(), tmp_path)
    return tmp_path, {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != "lock"}


def test_another_optimizer_state_is_refused_before_config_json_is_written(adamw_run, capsys):
    workdir, files = adamw_run
    with pytest.raises(ConfigError) as info:
        train.train_and_evaluate(quick(optimizer=SGD), workdir, force=True)
    assert str(info.value) == ("--force cannot continue this run: the optimizer state differs (adamw -> sgd): "
                               "15 leaves missing, 7 new; use another --workdir")
    assert {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file() and p.name != "lock"} == files
    capsys.readouterr()
    summary = train.train_and_evaluate(quick(num_steps=9), workdir, force=True)  # the same optimizer carries over
    assert summary["step"] == 9 and f"resuming {workdir} from step 6" in capsys.readouterr().out


def test_another_model_is_named_path_by_path(adamw_run):
    workdir, _ = adamw_run
    with pytest.raises(ConfigError) as info:
        train.train_and_evaluate(quick(model="mlp(widths=(128,), dropout=0.1)"), workdir, force=True)
    assert str(info.value) == (
        "--force cannot continue this run: the model differs: params/Dense_0/bias float32[256] -> float32[128], "
        "params/Dense_0/kernel float32[64, 256] -> float32[64, 128], params/Dense_1/bias float32[256] -> absent, "
        "params/Dense_1/kernel float32[256, 256] -> absent, and 1 more; "
        "the optimizer state differs: 4 leaves missing, 6 changed; use another --workdir")


def test_the_train_command_says_it_in_one_line_and_the_original_command_still_resumes(adamw_run, capfd):
    workdir, _ = adamw_run
    args = ["train", "--workdir", str(workdir), "--config.num_steps=6", "--config.eval_every=3",
            "--config.log_every=3", "--config.progress=false", "--config.eval_splits=['test']"]
    assert main([*args, "--force", f"--config.optimizer={SGD}"]) == 2
    out, err = capfd.readouterr()
    assert out.splitlines()[-1].startswith("tricks train: --force cannot continue this run: the optimizer state")
    assert "Traceback" not in out + err
    assert main(args) == 0
    assert f"resuming {workdir} from step 6" in capfd.readouterr().out
