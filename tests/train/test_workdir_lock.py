"""One run at a time writes a workdir (#15 item 12): a second is refused at once, naming the
first; a killed holder leaves the workdir free; reading a run takes no lock."""

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys

import pytest

from tools.cli import main
from tricks import train
from tricks.train._lock import hold
from tricks.train._workdir import WorkdirError

ARGS = ["--config.num_steps=4", "--config.eval_every=4", "--config.log_every=2", "--config.progress=false",
        "--config.eval_splits=['test']"]


def quick():
    cfg = train.default_config()
    cfg.num_steps, cfg.eval_every, cfg.log_every, cfg.progress, cfg.eval_splits = 4, 4, 2, False, ["test"]
    return cfg


def test_a_second_holder_is_refused_with_the_first_ones_pid_host_and_start(tmp_path):
    with hold(tmp_path):  # flock locks belong to an open file: a second open conflicts, even in one process
        with pytest.raises(WorkdirError) as info:
            with hold(tmp_path):
                pass
    message = str(info.value)
    assert message.startswith(f"{tmp_path} is in use by another run (pid {os.getpid()} on {socket.gethostname()}, "
                              "started 20")
    assert message.endswith("); wait for it to end, or use another --workdir") and "\n" not in message
    with hold(tmp_path):  # released when its block ended, also by an exception
        pass


def test_the_train_command_stops_at_once_in_a_held_workdir_and_writes_nothing(tmp_path, capfd):
    with hold(tmp_path):
        assert main(["train", "--workdir", str(tmp_path), *ARGS]) == 1
    out, err = capfd.readouterr()
    assert f"tricks train: {tmp_path} is in use by another run (pid {os.getpid()} on" in out
    assert "Traceback" not in out + err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]  # no config.json, no records


def test_a_killed_holder_releases_the_workdir(tmp_path):
    code = ("import sys, time\nfrom tricks.train._lock import hold\n"
            f"with hold({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkdirError, match=rf"in use by another run \(pid {holder.pid} on "):
            train.train_and_evaluate(quick(), tmp_path)
        assert not (tmp_path / "config.json").exists()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    finally:
        holder.kill()
        holder.stdout.close()
    assert train.train_and_evaluate(quick(), tmp_path)["step"] == 4  # the kernel dropped the dead holder's lock


def test_a_run_holds_the_lock_only_while_it_runs_and_readers_take_none(tmp_path, capsys):
    train.train_and_evaluate(quick(), tmp_path)
    with hold(tmp_path):  # free again after the run; held here, as by a run in progress
        assert train.load(tmp_path).step == 4
        assert main(["eval", "--workdir", str(tmp_path)]) == 0
    assert "test" in capsys.readouterr().out


def test_a_file_system_without_locks_runs_unlocked_with_a_warning(tmp_path, monkeypatch):
    def unsupported(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    with pytest.warns(RuntimeWarning, match="cannot be locked \\(No locks available\\): a second run there"):
        with hold(tmp_path):
            pass
