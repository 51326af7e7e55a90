"""Scale and persistence: devices, hosts, exact resume after SIGKILL, damaged checkpoints."""

import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.train import scale_worker
from tricks import train

WORKER = pathlib.Path(scale_worker.__file__)
ROOT = pathlib.Path(__file__).parents[2]


def _env(devices: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "TRICKS_"))}
    session = os.environ.get("XLA_FLAGS", "")  # the test session's compile options (conftest.py)
    env.update(XLA_FLAGS=f"{session} --xla_force_host_platform_device_count={devices}".strip(),
               JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), **extra)
    return env


def _worker(tmp: pathlib.Path, name: str, devices: int, parallel: str, **extra) -> subprocess.Popen:
    log = open(tmp / f"{name}-{extra.get('TRICKS_PROCESS_ID', 0)}.log", "w")  # a file: pipes could fill up
    process = subprocess.Popen([sys.executable, str(WORKER), str(tmp / name), parallel],
                               env=_env(devices, **extra), stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


def _finish(process: subprocess.Popen) -> None:
    process.wait(timeout=900)
    process.log.close()
    output = pathlib.Path(process.log.name).read_text()
    assert process.returncode == 0, output[-3000:]


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one")
    _finish(_worker(tmp, "one", 1, "sharded"))
    return tmp / "one"


def _records(workdir: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def assert_same_training(one: pathlib.Path, other: pathlib.Path) -> None:
    """`other` trained as `one` did, up to the rounding of another summation order: its
    parameters and batch statistics within 1e-5, and every record (the training loss and
    accuracy under pmap included, which were once logged as null) within 1e-4."""
    for a, b in zip(scale_worker.leaves(one), scale_worker.leaves(other), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5, err_msg=other.name)
    for mine, theirs in zip(_records(one), _records(other), strict=True):
        assert mine.keys() == theirs.keys(), other.name
        for key in mine:
            if key != "wall_time_s":
                assert theirs[key] == pytest.approx(mine[key], rel=1e-4, abs=1e-6), (other.name, key)


def test_eight_devices_sharded_and_pmap_match_one_device(one_device, tmp_path):
    for parallel in ("sharded", "pmap"):
        _finish(_worker(tmp_path, parallel, 8, parallel))
        assert_same_training(one_device, tmp_path / parallel)


def test_two_processes_of_four_devices_match_one_device(one_device, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workers = [
        _worker(tmp_path, "hosts", 4, "sharded", TRICKS_COORDINATOR=f"127.0.0.1:{port}",
                TRICKS_NUM_PROCESSES="2", TRICKS_PROCESS_ID=str(i))
        for i in range(2)
    ]
    for w in workers:
        _finish(w)
    assert_same_training(one_device, tmp_path / "hosts")
    records = (tmp_path / "hosts" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in records if "train/loss" in json.loads(r)] == [25, 50]  # logged once


def test_unreachable_coordinator_fails_with_a_message(tmp_path):
    code = "from tools.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "train", "--workdir", str(tmp_path), "--config.distributed.timeout_s=2"],
        env=_env(1, TRICKS_COORDINATOR="127.0.0.1:9", TRICKS_NUM_PROCESSES="2", TRICKS_PROCESS_ID="1"),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "could not reach the coordinator 127.0.0.1:9 within 2 s as process 1 of 2" in result.stdout


RESUME_ARGS = ["--config.num_steps=120", "--config.checkpoint_every=15", "--config.eval_every=60",
               "--config.log_every=10", "--config.histogram_every=25", "--config.progress=false",
               "--config.eval_splits=['test']"]  # checkpoints inside log intervals


def _train_command(workdir: pathlib.Path) -> list[str]:
    code = "from tools.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "train", "--workdir", str(workdir), *RESUME_ARGS]


def _final_params(workdir: pathlib.Path) -> list[np.ndarray]:
    from tricks import config as config_lib

    cfg = config_lib.apply_overrides(train.complete(train.default_config()), RESUME_ARGS)
    state, _ = train.Checkpoints(workdir, read_only=True).restore(120, train.setup(cfg).state)
    return [np.asarray(x) for x in jax.tree.leaves((state.params, state.opt_state))]


def _newest(workdir: pathlib.Path) -> int:
    """The highest step among checkpoint folders, finished or being written (0 if none)."""
    folder = workdir / "checkpoints"
    steps = [int(p.name.split(".")[0]) for p in folder.iterdir() if p.name.split(".")[0].isdigit()] if folder.exists() else []
    return max(steps, default=0)


def test_killed_runs_resume_bit_for_bit(tmp_path):
    subprocess.run(_train_command(tmp_path / "whole"), env=_env(1), check=True, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    for attempt in range(8):
        process = subprocess.Popen(_train_command(killed), env=_env(1), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        if kills < 3:
            before = _newest(killed)
            deadline = time.monotonic() + 300
            while process.poll() is None and time.monotonic() < deadline and _newest(killed) <= before:
                time.sleep(0.05)  # wait for the next checkpoint to start
            time.sleep(rng.uniform(0.0, 0.6))  # then kill at an arbitrary moment, maybe mid-save (10 steps take ~0.1 s)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
        process.wait(timeout=600)
        if (killed / "summary.json").exists():
            break
    assert kills >= 2, "the run finished before it could be killed"
    for a, b in zip(_final_params(tmp_path / "whole"), _final_params(killed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert_same_records(tmp_path / "whole", killed)


def assert_same_records(whole: pathlib.Path, resumed: pathlib.Path) -> None:
    """metrics.jsonl, TensorBoard and the summary's training record as an uninterrupted run's,
    bit for bit (the sums are carried from call to call, so calls that end elsewhere, as the
    measured pace decides, add the same numbers in the same order)."""
    from tests.train.test_writers import read_events

    def jsonl(workdir):
        return [{k: v for k, v in json.loads(line).items() if k != "wall_time_s"}
                for line in (workdir / "metrics.jsonl").read_text().splitlines()]

    def events(workdir):
        return sorted((e.step, v.tag, v.simple_value if v.HasField("simple_value") else v.WhichOneof("value"))
                      for e in read_events(workdir / "tensorboard") for v in e.summary.value)

    expected, found = jsonl(whole), jsonl(resumed)
    assert [r["step"] for r in found] == [r["step"] for r in expected]
    for a, b in zip(expected, found):
        assert a == b
    assert events(resumed) == events(whole)
    summaries = [json.loads((w / "summary.json").read_text())["train"] for w in (whole, resumed)]
    assert summaries[1] and summaries[1] == summaries[0]


def test_a_run_resumed_from_inside_a_log_interval_logs_what_an_uninterrupted_one_does(tmp_path):
    """Checkpoints at 15, 30, ... (the last 3 kept): the newest removed, the run resumes at
    105, inside the interval 101-110, and rewrites what it had logged past 105; run again
    once finished, it keeps its summary's training record."""
    run = lambda workdir: subprocess.run(_train_command(workdir), env=_env(1), check=True,  # noqa: E731
                                         capture_output=True, timeout=600)
    run(tmp_path / "whole")
    run(tmp_path / "resumed")
    for step in (120,):
        shutil.rmtree(tmp_path / "resumed" / "checkpoints" / str(step))
    run(tmp_path / "resumed")
    assert_same_records(tmp_path / "whole", tmp_path / "resumed")
    run(tmp_path / "resumed")  # finished: nothing to train, the summary still complete
    assert_same_records(tmp_path / "whole", tmp_path / "resumed")


def _quick(**fields):
    cfg = train.default_config()
    cfg.num_steps, cfg.checkpoint_every, cfg.eval_every, cfg.log_every = 30, 10, 30, 10
    cfg.progress, cfg.eval_splits = False, ["test"]
    for key, value in fields.items():
        cfg[key] = value
    return cfg


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_latest_checkpoint_is_set_aside_and_an_earlier_one_used(tmp_path, capsys, damage):
    whole = train.train_and_evaluate(_quick(num_steps=40), tmp_path / "whole")
    workdir = tmp_path / "run"
    train.train_and_evaluate(_quick(), workdir)
    files = sorted(p for p in (workdir / "checkpoints" / "30" / "state").rglob("*") if p.is_file()
                   and p.stat().st_size > 100 and "ocdbt.process_0/d" in str(p))
    assert files
    for path in files:
        if damage == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        else:
            path.unlink()
    resumed = train.train_and_evaluate(_quick(num_steps=40), workdir, force=True)
    assert "warning: checkpoint at step 30 is damaged" in capsys.readouterr().err
    assert list((workdir / "checkpoints_corrupt").iterdir())[0].name.startswith("30-")
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [20, 30, 40]
    assert resumed["eval"] == whole["eval"]


def test_restoring_into_a_different_model_names_paths_and_shapes(tmp_path):
    train.train_and_evaluate(_quick(num_steps=10), tmp_path)
    with pytest.raises(ValueError) as info:
        train.train_and_evaluate(_quick(num_steps=20, model="mlp(widths=(32,))"), tmp_path, force=True)
    message = str(info.value)  # (checked before anything is written, #15 item 13)
    assert message.startswith("--force cannot continue this run: the model differs: ")
    assert "params/Dense_0/kernel float32[64, 256] -> float32[64, 32]" in message
    assert "params/Dense_1/kernel float32[256, 256] -> absent" in message
