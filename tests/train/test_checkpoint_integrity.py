"""Nothing lost, nothing silent: checksummed checkpoints, one line per damaged one, and an
evaluation that falls back as training does, without changing the workdir (issue #15)."""

import gc
import shutil
import sys
import time

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tools.cli import main
from tricks import train
from tricks.config import ConfigError
from tricks.optimizers import leaves_by_path


def toy(step):
    """A state of several arrays, random (so stored as they are, not compressed away) and
    large enough to be kept in the data files (not inline in the index)."""
    rng = np.random.default_rng(step)
    return {f"a{i}": jnp.asarray(rng.standard_normal(2048), jnp.float32) for i in range(8)}


def saved(tmp_path, steps=(1, 2)):
    ckpts = train.Checkpoints(tmp_path, keep=None)
    for step in steps:
        ckpts.save(step, toy(step), {"data": {"position": step}})
    ckpts.close()
    return tmp_path / "checkpoints"


def flip_a_byte(checkpoint):
    """XORs the middle byte of the largest array file, as a flipped bit on disk would."""
    path = max((checkpoint / "state" / "ocdbt.process_0" / "d").iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def restore_latest_valid(workdir, read_only=False):
    ckpts = train.Checkpoints(workdir, read_only=read_only)
    try:
        return ckpts.restore_latest_valid(toy(0))
    finally:
        ckpts.close()


def test_a_flipped_bit_is_caught_by_the_checksums_and_the_checkpoint_set_aside(tmp_path, capsys):
    folder = saved(tmp_path)
    flip_a_byte(folder / "2")
    step, state, meta = restore_latest_valid(tmp_path)
    assert step == 1 and meta == {"data": {"position": 1}}
    assert all(np.array_equal(state[k], v) for k, v in toy(1).items())
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("warning: checkpoint at step 2 is damaged (array a")
    assert f"differs from its checksum): moved to {tmp_path / 'checkpoints_corrupt'}/2-" in line
    assert sorted(p.name for p in folder.iterdir() if p.name.isdigit()) == ["1"]


def test_a_meta_rewritten_as_other_valid_json_is_caught(tmp_path, capsys):
    folder = saved(tmp_path)
    (folder / "2" / "meta" / "metadata").write_text("{}")
    assert restore_latest_valid(tmp_path)[0] == 1
    err = capsys.readouterr().err
    assert "warning: checkpoint at step 2 is damaged (its meta differs from its checksum): moved to" in err


@pytest.mark.parametrize("damage", ["array files deleted", "index file emptied"])
def test_each_damaged_checkpoint_is_one_line_and_none_usable_is_said_once(tmp_path, capfd, caplog, monkeypatch,
                                                                          damage):
    """The causes come without TensorStore's spec dumps, and the reads that a failure
    leaves running report nothing afterwards (no "Exception ignored in coroutine", no
    "Event loop is closed" traceback, no "Future exception was never retrieved")."""
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    folder = saved(tmp_path)
    for step in ("1", "2"):
        files = folder / step / "state" / ("ocdbt.process_0/d" if damage == "array files deleted" else "d")
        for path in files.iterdir():
            path.unlink() if damage == "array files deleted" else path.write_bytes(b"")
    assert restore_latest_valid(tmp_path) is None
    gc.collect()
    time.sleep(0.3)  # the reads left running end
    assert reported == [] and not [record for record in caplog.records if record.name == "asyncio"]
    lines = capfd.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["warning: checkpoint at step 2 is damaged",
                                                      "warning: checkpoint at step 1 is damaged",
                                                      f"warning: no usable checkpoint in {folder}"]
    assert all(len(line) < 400 and "TensorStore" not in line for line in lines)
    assert lines[-1].endswith(f"(2 set aside in {tmp_path / 'checkpoints_corrupt'}): starting from step 0")


def test_read_only_passes_over_a_damaged_checkpoint_and_moves_nothing(tmp_path, capsys):
    folder = saved(tmp_path)
    flip_a_byte(folder / "2")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert restore_latest_valid(tmp_path, read_only=True)[0] == 1
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    err = capsys.readouterr().err
    assert "warning: checkpoint at step 2 is damaged (array a" in err and f"skipped, left in {folder / '2'}" in err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short run with checkpoints at 10, 20, 30, and its final parameters."""
    workdir = tmp_path_factory.mktemp("run") / "w"
    train.train_and_evaluate(quick(), workdir)
    return workdir, params(workdir)


def quick():
    cfg = train.default_config()
    cfg.num_steps, cfg.checkpoint_every, cfg.eval_every, cfg.log_every = 30, 10, 30, 10
    cfg.progress, cfg.eval_splits = False, ["test"]
    return cfg


def params(workdir):
    return {k: np.asarray(v) for k, v in leaves_by_path(train.load(workdir).params).items()}


def copy(run, tmp_path):
    shutil.copytree(run[0], tmp_path / "w")
    return tmp_path / "w"


@pytest.mark.parametrize("damage", ["flipped bit", "meta {}"])
def test_training_resumes_from_the_newest_checkpoint_that_matches_its_checksums(run, tmp_path, capsys, damage):
    """Step 30 removed, step 20 damaged: the run resumes from 10 and ends as it did."""
    workdir = copy(run, tmp_path)
    shutil.rmtree(workdir / "checkpoints" / "30")
    if damage == "flipped bit":
        flip_a_byte(workdir / "checkpoints" / "20")
    else:
        (workdir / "checkpoints" / "20" / "meta" / "metadata").write_text("{}")
    train.train_and_evaluate(quick(), workdir)
    out = capsys.readouterr()
    assert "warning: checkpoint at step 20 is damaged (" in out.err
    assert f"resuming {workdir} from step 10" in out.out
    found = params(workdir)
    assert all(np.array_equal(found[k], v) for k, v in run[1].items())


@pytest.mark.parametrize("damage", ["state removed", "empty newer folder"])
def test_eval_falls_back_to_the_newest_usable_checkpoint_and_moves_nothing(run, tmp_path, capsys, damage):
    workdir = copy(run, tmp_path)
    if damage == "state removed":
        shutil.rmtree(workdir / "checkpoints" / "30" / "state")
        bad, used, missing = 30, 20, "state"
    else:
        (workdir / "checkpoints" / "40").mkdir()
        bad, used, missing = 40, 30, "state or meta"
    listing = sorted(p.relative_to(workdir) for p in (workdir / "checkpoints").rglob("*"))
    assert main(["eval", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"step {used}\n")
    assert out.err.splitlines() == [f"warning: checkpoint at step {bad} is damaged (no {missing} saved): "
                                    f"skipped, left in {workdir / 'checkpoints' / str(bad)}"]
    assert sorted(p.relative_to(workdir) for p in (workdir / "checkpoints").rglob("*")) == listing
    assert not (workdir / "checkpoints_corrupt").exists()
    assert main(["eval", "--workdir", str(workdir), "--step", str(bad)]) == 2  # asked for: a one-line error
    assert capsys.readouterr().out == f"tricks eval: checkpoint at step {bad} is damaged (no {missing} saved)\n"


def test_eval_of_a_run_that_deletes_the_checkpoint_being_read_uses_the_newest_one_left(run, tmp_path, capsys,
                                                                                        monkeypatch):
    """As a run still training does (``keep``): step 30 is deleted as Orbax starts reading it."""
    workdir = copy(run, tmp_path)
    restore = ocp.CheckpointManager.restore

    def deleted_first(self, step, *args, **kwargs):
        if step == 30 and (workdir / "checkpoints" / "30").exists():
            shutil.rmtree(workdir / "checkpoints" / "30")
        return restore(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "restore", deleted_first)
    assert main(["eval", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("step 20\n")
    assert out.err == "note: checkpoint at step 30 was deleted while it was read; trying the newest one left\n"


def test_an_unreadable_config_json_is_a_one_line_error_naming_it(run, tmp_path, capsys):
    workdir = copy(run, tmp_path)
    path = workdir / "config.json"
    path.write_bytes(bytes(range(128, 256)))
    unreadable = f"{path} is not a readable config ('utf-8' codec can't decode byte 0x80 in position 0: " \
                 "invalid start byte)"
    with pytest.raises(ConfigError) as info:
        train.train_and_evaluate(quick(), workdir)
    assert str(info.value) == f"{unreadable}; remove it to continue this run with the new config, or use " \
                              "another --workdir"
    assert main(["eval", "--workdir", str(workdir)]) == 2
    assert capsys.readouterr().out == f"tricks eval: {unreadable}\n"
    path.write_text("[]")
    with pytest.raises(ConfigError, match=r"config.json is not a readable config \(a JSON list, not an object\)"):
        train.train_and_evaluate(quick(), workdir)
