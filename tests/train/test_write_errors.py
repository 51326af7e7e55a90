"""A write that fails (a full disk, #15 item 14) stops the run at once with one line: what
could not be written, where, and the last good checkpoint, which stays whole and resumes."""

import builtins
import errno
import json
import re
import threading
import time

import orbax.checkpoint as ocp
import pytest

from tools.cli import main
from tricks import train
from tricks.train import _writers
from tricks.train._workdir import WorkdirError

FULL = "No space left on device"
ARGS = ["--config.num_steps=30", "--config.checkpoint_every=10", "--config.eval_every=5", "--config.log_every=2",
        "--config.progress=false", "--config.eval_splits=['test']"]


def quick():
    cfg = train.default_config()
    cfg.num_steps, cfg.checkpoint_every, cfg.eval_every, cfg.log_every = 30, 10, 5, 2
    cfg.progress, cfg.eval_splits = False, ["test"]
    return cfg


def fill_disk_at_checkpoint(monkeypatch, step):
    """Orbax's thread writing the checkpoint of `step` meets a full disk; returns an event set then."""
    failed, save = threading.Event(), ocp.JsonCheckpointHandler._save_fn

    async def save_fn(self, item, directory):
        if re.search(rf"/{step}(\.[^/]*)?/meta", str(directory)):
            failed.set()
            raise OSError(errno.ENOSPC, FULL)
        return await save(self, item, directory)

    monkeypatch.setattr(ocp.JsonCheckpointHandler, "_save_fn", save_fn)
    return failed


def records(workdir):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time_s"}
            for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_a_failed_checkpoint_stops_the_run_at_once_and_the_last_good_one_resumes(tmp_path, monkeypatch, capsys):
    failed = fill_disk_at_checkpoint(monkeypatch, 10)

    def on_call(step, state):
        if step > 10:  # the save of step 10 has failed in Orbax's thread before the next call ends
            assert failed.wait(60)
            time.sleep(0.5)

    with pytest.raises(WorkdirError) as info:
        train.train_and_evaluate(quick(), tmp_path / "run", on_call=on_call)
    assert str(info.value) == (f"could not write the checkpoint of step 10 to {tmp_path / 'run' / 'checkpoints' / '10'} "
                               f"({FULL}); no checkpoint was saved")
    assert max(r["step"] for r in records(tmp_path / "run")) < 20  # stopped at the next call, not at the next save

    monkeypatch.undo()
    fill_disk_at_checkpoint(monkeypatch, 20)  # again, once step 10 is saved
    with pytest.raises(WorkdirError, match=rf"^could not write the checkpoint of step 20 .*\({FULL}\); "
                                           rf"the last good checkpoint is step 10 \(.*/run/checkpoints/10\)$"):
        train.train_and_evaluate(quick(), tmp_path / "run")
    monkeypatch.undo()  # space freed
    capsys.readouterr()
    train.train_and_evaluate(quick(), tmp_path / "run")
    assert "resuming" in capsys.readouterr().out  # from step 10, intact
    train.train_and_evaluate(quick(), tmp_path / "uninterrupted")
    assert records(tmp_path / "run") == records(tmp_path / "uninterrupted")


def test_the_train_command_reports_a_failed_checkpoint_in_one_line(tmp_path, monkeypatch, capfd):
    fill_disk_at_checkpoint(monkeypatch, 20)
    assert main(["train", "--workdir", str(tmp_path), *ARGS]) == 1
    out, err = capfd.readouterr()
    assert out.splitlines()[-1] == (f"tricks train: could not write the checkpoint of step 20 to {tmp_path}/checkpoints/20 "
                                    f"({FULL}); the last good checkpoint is step 10 ({tmp_path}/checkpoints/10)")
    assert "Traceback" not in out + err and "ERROR" not in err


def test_a_record_that_cannot_be_written_is_one_line_naming_the_last_checkpoint(tmp_path, monkeypatch, capfd):
    class Full:  # metrics.jsonl on a disk that fills at step 24
        def __init__(self, file):
            self._file = file

        def __getattr__(self, name):
            return getattr(self._file, name)

        def write(self, text):
            if '"step": 24' in text:
                raise OSError(errno.ENOSPC, FULL)
            return self._file.write(text)

    def opened(path, *args, **kwargs):
        file = builtins.open(path, *args, **kwargs)
        return Full(file) if str(path).endswith("metrics.jsonl") else file

    monkeypatch.setattr(_writers, "open", opened, raising=False)
    assert main(["train", "--workdir", str(tmp_path), *ARGS]) == 1
    out, err = capfd.readouterr()
    assert out.splitlines()[-1] == (f"tricks train: could not write {tmp_path}/metrics.jsonl ({FULL}); "
                                    f"the last good checkpoint is step 20 ({tmp_path}/checkpoints/20)")
    assert "Traceback" not in out + err


@pytest.mark.parametrize("make", [_writers.JsonlWriter, _writers.TensorBoardWriter])
def test_a_writer_names_its_file_and_closes_quietly_after_a_failed_write(make, tmp_path):
    writer = make(tmp_path)

    def full(data):
        raise OSError(errno.ENOSPC, FULL)

    path = writer._file.name
    writer._file.write = full
    with pytest.raises(OSError) as info:
        writer.write(3, {"train/loss": 0.5})
    assert (info.value.errno, info.value.strerror, info.value.filename) == (errno.ENOSPC, FULL, path)
    writer.close()  # what it could not write is dropped, not written again
