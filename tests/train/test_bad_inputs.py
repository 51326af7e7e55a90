"""Issue 15 items 15 and 16: a bad input ends in one line naming the field and a non-zero exit,
never a traceback; inputs once accepted silently (a string for a bool, a misspelt split, no
steps at all) are refused; evaluation needs no write access to the run."""

import errno
import os
import pathlib
import subprocess
import sys

import pytest

from tools.cli import main
from tricks import config as config_lib
from tricks import train

QUICK = ["--config.num_steps=2", "--config.eval_every=2", "--config.log_every=1", "--config.progress=false",
         "--config.eval_splits=['test']"]
DEEP = "lookahead(" * 5000 + "sgd()" + ")" * 5000  # 55 KB, deeper than Python's parser goes


def error_line(capsys, command: str = "train") -> str:
    """The one line of the command's error; fails on a traceback or on more than one line."""
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = [line for line in (out + err).splitlines() if line.startswith(f"tricks {command}:")]
    assert len(lines) == 1, out + err
    return lines[0]


@pytest.mark.parametrize("overrides, expected", [
    (["--config.optimizer.learning_rate=1e999"],
     "--config.optimizer.learning_rate=1e999: expected a finite number, got '1e999'"),
    (["--config.optimizer.weight_decay=inf"], "--config.optimizer.weight_decay=inf: expected a finite number"),
    (["--config.optimizer=adamw(learning_rate=1e999)"],
     "config field 'optimizer.learning_rate' must be a finite number, got inf"),
    (["--config.batch_size=1000000"], "batch_size 1000000 is larger than split 'train' (1293 examples)"),
    (["--config.seed=-1"], "config field 'seed' must be a whole number in [0, 2**32 - 1], got -1"),
    (["--config.seed=99999999999999999999"], "config field 'seed' must be a whole number in [0, 2**32 - 1]"),
    (["--config.eval_splits=['tset']"],
     "config field 'eval_splits': unknown split 'tset' (did you mean 'test'?); valid splits: train, validation, test"),
    (["--config.num_steps=0", "--config.num_epochs=0"], "'num_steps' and 'num_epochs' are both 0"),
    (["--config.keep=0"], "config field 'keep' must be a whole number in [1, 2**31 - 1], got 0"),
    (["--config.num_steps=99999999999999999999999"],
     "config field 'num_steps' must be a whole number in [0, 2**31 - 1], got 99999999999999999999999"),
    ([f"--config.optimizer={DEEP}"], "too many nested parentheses"),
], ids=["lr_inf", "wd_inf", "spec_inf", "batch_over_data", "seed_negative", "seed_huge", "split_typo",
        "no_steps", "keep_0", "steps_past_int32", "deep_spec"])
def test_bad_override_is_one_line_naming_the_field(overrides, expected, tmp_path, capsys):
    assert main(["train", "--workdir", str(tmp_path / "run"), *QUICK, *overrides]) != 0
    line = error_line(capsys)
    assert expected in line
    assert len(line) < 1000  # a long input is shortened, not echoed whole


@pytest.mark.parametrize("text, expected", [
    ('eval_splits: "test"\n',
     "config field 'eval_splits' must be a non-empty list of split names (train, validation, test), got 'test'"),
    ("eval_splits: ['tset']\n", "unknown split 'tset' (did you mean 'test'?)"),
    ('progress: "no"\n', "config field 'progress' must be true or false, got 'no'"),
    ("distributed: {auto: 'yes'}\n", "config field 'distributed.auto' must be true or false, got 'yes'"),
    ("optimizer: {name: adamw, weight_decay: .inf}\n", "config field 'optimizer.weight_decay' must be a finite number"),
], ids=["splits_string", "splits_typo", "bool_string", "nested_bool_string", "yaml_inf"])
def test_bad_config_file_field_is_refused(text, expected, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("num_steps: 2\n" + text)
    assert main(["train", "--workdir", str(tmp_path / "run"), "--config", str(path)]) != 0
    assert expected in error_line(capsys)


def test_a_bool_field_takes_true_or_false_from_the_command_line():
    cfg = config_lib.apply_overrides(train.complete(train.default_config()), ["--config.progress=no"])
    assert train.complete(cfg).progress is False


def test_python_config_with_a_syntax_error_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.py"
    path.write_text("import ml_collections\ndef get_config(arg=None):\n    return {'num_steps': 5,)\n")
    assert main(["train", "--workdir", str(tmp_path / "run"), "--config", str(path)]) != 0
    assert f"{path}:3: syntax error: closing parenthesis ')'" in error_line(capsys)


@pytest.mark.parametrize("where", ["under_a_file", "a_file", "deep_under_a_file"])
def test_workdir_that_cannot_be_a_folder(where, tmp_path, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("")
    workdir = {"under_a_file": file / "run", "a_file": file, "deep_under_a_file": file / "a" / "b"}[where]
    assert main(["train", "--workdir", str(workdir), *QUICK]) != 0
    assert f"--workdir {workdir} cannot be written: {file} is a file, not a folder" in error_line(capsys)


def read_only(monkeypatch, root: pathlib.Path, method: str) -> None:
    """Makes `method` of `pathlib.Path` fail as on a read-only mount for `root` and below
    (chmod does not stop root, who may run the tests)."""
    original = getattr(pathlib.Path, method)

    def refused(self, *args, **kwargs):
        if self == root or root in self.parents:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, method, refused)


def test_workdir_on_a_read_only_mount(tmp_path, monkeypatch, capsys):
    read_only(monkeypatch, tmp_path / "mount", "mkdir")
    workdir = tmp_path / "mount" / "run"
    assert main(["train", "--workdir", str(workdir), *QUICK]) != 0
    assert f"--workdir {workdir} cannot be written: Read-only file system: {workdir}" in error_line(capsys)


def test_eval_of_a_read_only_run_prints_its_results_and_warns(tmp_path, monkeypatch, capsys):
    workdir = tmp_path / "run"
    assert main(["train", "--workdir", str(workdir), *QUICK]) == 0
    capsys.readouterr()
    read_only(monkeypatch, workdir, "write_text")
    assert main(["eval", "--workdir", str(workdir)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("step 2\n") and "\ntest " in out
    assert err == (f"warning: could not write {workdir / 'eval.json'} (Read-only file system); "
                   "the results above are not saved\n")
    assert not (workdir / "eval.json").exists()


def test_batch_of_7_on_2_devices_is_one_line(tmp_path):
    code = "import sys; from tools.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip(),
           "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin", "TFDS_DATA_DIR": os.environ["TFDS_DATA_DIR"]}
    result = subprocess.run([sys.executable, "-c", code, "train", "--workdir", str(tmp_path), *QUICK,
                             "--config.batch_size=7"], capture_output=True, text=True, env=env, timeout=300,
                            cwd=pathlib.Path(__file__).parents[2])
    assert result.returncode != 0 and "Traceback" not in result.stderr + result.stdout
    assert ("tricks train: batch_size 7 is not divisible by the size of the mesh's 'data' axis (2); "
            "nearest valid sizes: 6, 8\n") in result.stdout


def test_eval_splits_the_dataset_lacks_entirely_are_refused(tmp_path, capsys):
    args = ["train", "--workdir", str(tmp_path / "w"), "--config.dataset=mnist1d(validation_fraction=0.0)",
            "--config.eval_splits=['validation']", "--config.num_steps=2", "--config.progress=false"]
    assert main(args) == 2
    out = capsys.readouterr()
    assert "eval_splits ['validation']: the dataset has none of them" in out.out + out.err
    assert not (tmp_path / "w").exists()


def test_epochs_past_the_int32_step_counter_are_refused(tmp_path, capsys):
    args = ["train", "--workdir", str(tmp_path / "w"), "--config.num_steps=0", "--config.num_epochs=2147483647"]
    assert main(args) == 2
    out = capsys.readouterr()
    assert "more than the int32 step counter holds" in out.out + out.err
