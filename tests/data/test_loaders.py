"""Both input pipelines: determinism, epochs, per-process shards, resume, evaluation, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from tests.data.conftest import toy_dataset
from tricks.data import DeviceLoader, GrainLoader, make_loader
from tricks.data._device import REUSE_EPOCHS

PATHS = {"device": True, "grain": False}


def ids(batch) -> list[int]:
    """The toy examples in a batch (the toy's feature is the example index)."""
    return [int(v) for v in np.asarray(batch["image"])[:, 0]]


def source_ids(ds, split) -> list[int]:
    return [int(ds.source(split)[i]["image"][0]) for i in range(ds.split_sizes[split])]


@pytest.fixture(params=list(PATHS))
def path(request) -> str:
    return request.param


def loader_of(ds, path, split="train", batch_size=8, seed=0, **kwargs):
    return make_loader(ds, split, batch_size, seed, on_device=PATHS[path], **kwargs)


def test_paths(toy, path):
    loader = loader_of(toy, path)
    assert isinstance(loader, DeviceLoader if path == "device" else GrainLoader)
    batch = loader.batch(0)
    assert set(batch) == {"image", "label"}
    assert batch["image"].dtype == np.float32 and batch["label"].dtype == np.int32
    assert isinstance(batch["image"], jax.Array) and batch["image"].shape == (8, 1)


def test_batch_is_a_function_of_seed_and_step(toy, path):
    a, b = loader_of(toy, path, seed=3), loader_of(toy, path, seed=3)
    steps = [7, 0, 12, 7, 3]
    for step in steps:
        assert ids(a.batch(step)) == ids(b.batch(step))
    assert [ids(a.batch(s)) for s in range(4)] != [
        ids(loader_of(toy, path, seed=4).batch(s)) for s in range(4)
    ]
    iterator = a.iterate(0)
    assert [ids(next(iterator)) for _ in range(13)] == [ids(b.batch(s)) for s in range(13)]
    iterator.close()


def test_labels_travel_with_their_examples(toy, path):
    labels = toy.labels("train")
    batch = loader_of(toy, path).batch(5)
    assert np.asarray(batch["label"]).tolist() == [int(labels[i]) for i in ids(batch)]


@pytest.mark.parametrize("batch_size", [8, 10])
def test_each_epoch_covers_examples_once(toy, path, batch_size):
    n = toy.split_sizes["train"]  # 50
    loader = loader_of(toy, path, batch_size=batch_size)
    spe = loader.steps_per_epoch
    assert spe == n // batch_size
    epochs = [[i for s in range(e * spe, (e + 1) * spe) for i in ids(loader.batch(s))] for e in range(3)]
    for seen in epochs:
        assert len(seen) == len(set(seen)) == spe * batch_size  # no repeats within an epoch
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    if n % batch_size == 0:
        assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(n))


def test_without_drop_remainder_batches_run_across_epochs(toy, path):
    n, batch_size = toy.split_sizes["train"], 8
    loader = loader_of(toy, path, batch_size=batch_size, drop_remainder=False)
    assert loader.steps_per_epoch == 7
    stream = [i for s in range(3 * n // batch_size + 1) for i in ids(loader.batch(s))]
    for e in range(3):
        assert sorted(stream[e * n : (e + 1) * n]) == list(range(n))
    assert stream[:n] != stream[n : 2 * n]


@pytest.mark.parametrize("kwargs", [
    {},
    {"drop_remainder": False},
    {"drop_remainder": False, "shuffle": False},
    {"drop_remainder": False, "process_index": 1, "process_count": 2},
    {"process_index": 1, "process_count": 2},
])
@pytest.mark.parametrize("batch_size", [8, 22])
def test_a_window_of_steps_gathers_each_steps_batch(toy, kwargs, batch_size):
    """One set of window arrays serves every step of the window (the training loop runs
    several steps per call with them); checked against the documented order, computed here."""
    device = loader_of(toy, "device", batch_size=batch_size, seed=2, **kwargs)

    def order(epoch):  # DeviceLoader's documented epoch order
        if not device.shuffle:
            return np.arange(50)
        return np.random.default_rng([0x6F7264, 2, epoch]).permutation(50)

    def expected(step):
        epoch, first_row = device.layout.start(step)
        positions = first_row + np.arange(*device.rows)
        return [int(order(epoch + p // 50)[p % 50]) for p in positions]

    gather = jax.jit(device.gather)
    for first, count in [(0, 1), (3, 17), (41, 25), (2, 2)]:
        args = device.window_args(first, count)
        assert args[2].shape == (device.epochs_spanned(count) + REUSE_EPOCHS, 50)  # the stacked epoch orders
        for step in range(first, first + count):
            assert ids(gather(np.int32(step), *args)) == expected(step), (first, count, step)
    batches, stacks = device.iterate(3), []  # consecutive windows, as the training loop asks
    for first in range(3, 200, 5):
        args = batches.next_window(5, 5)
        stacks += [] if stacks and args[2] is stacks[-1] else [args[2]]
        for step in range(first, first + 5):
            assert ids(gather(np.int32(step), *args)) == expected(step), (first, step)
    built = []  # a stack is reused by every window that starts in one of its first REUSE_EPOCHS + 1 epochs
    for epoch in (device.layout.start(first)[0] for first in range(3, 200, 5)):
        built += [] if built and epoch <= built[-1] + REUSE_EPOCHS else [epoch]
    assert len(stacks) == len(built) < 200 // 5 // 2, (len(stacks), built)


def test_epochs_spanned_is_tight(toy):
    """`epochs_spanned` is the most epochs a window touches: never fewer, and reached."""
    for batch_size, drop_remainder in [(8, True), (8, False), (22, False), (50, False)]:
        loader = loader_of(toy, "device", batch_size=batch_size, drop_remainder=drop_remainder)
        for count in (1, 2, 7, 30):
            touched = []
            for first in range(60):
                epoch_of = [loader.layout.start(s)[0] for s in range(first, first + count)]
                last = loader.layout.start(first + count - 1)
                ends_in = (last[1] + batch_size - 1) // 50 + last[0]  # epoch of the last row
                touched.append(max(max(epoch_of), ends_in) - epoch_of[0] + 1)
            assert max(touched) == loader.epochs_spanned(count), (batch_size, drop_remainder, count)


def test_class_balanced_windows(toy):
    loader = loader_of(toy, "device", batch_size=8, seed=5, class_balanced=True)
    gather, args = jax.jit(loader.gather), loader.window_args(4, 10)
    assert [ids(gather(np.int32(s), *args)) for s in range(4, 14)] == [ids(loader.batch(s)) for s in range(4, 14)]


def test_unshuffled_order(toy, path):
    loader = loader_of(toy, path, batch_size=10, shuffle=False)
    assert [i for s in range(5) for i in ids(loader.batch(s))] == list(range(50))


@pytest.mark.parametrize("process_count, drop_remainder", [(2, True), (4, True), (2, False)])
def test_process_shards_are_disjoint_and_make_the_global_batch(toy, path, process_count, drop_remainder):
    kwargs = {"batch_size": 8, "seed": 1, "drop_remainder": drop_remainder}
    whole = loader_of(toy, path, process_index=0, process_count=1, **kwargs)
    shards = [
        loader_of(toy, path, process_index=p, process_count=process_count, **kwargs)
        for p in range(process_count)
    ]
    assert {s.local_batch_size for s in shards} == {8 // process_count}
    for step in (0, 6, 11):
        rows = [i for shard in shards for i in ids(shard.batch(step))]
        assert rows == ids(whole.batch(step))
        # Rows are distinct examples, unless a batch straddles two epochs (step 6 here).
        assert len(set(rows)) == 8 or (not drop_remainder and step == 6)


def test_process_shards_of_eval_batches(toy, path):
    n = toy.split_sizes["test"]  # 23
    seen = []
    for p in range(2):
        loader = loader_of(toy, path, split="test", batch_size=10, process_index=p, process_count=2)
        for batch in loader.eval_batches():
            seen += [i for i, m in zip(ids(batch), np.asarray(batch["mask"])) if m]
    assert sorted(seen) == sorted(source_ids(toy, "test")) and len(seen) == n


@pytest.mark.parametrize("batch_size", [5, 10, 64])
def test_eval_covers_every_example_exactly_once_in_order(toy, path, batch_size):
    loader = loader_of(toy, path, split="test", batch_size=batch_size)
    batches = list(loader.eval_batches())
    assert len(batches) == loader.num_eval_batches == -(-23 // batch_size)
    assert all(b["image"].shape == (batch_size, 1) and b["mask"].dtype == np.bool_ for b in batches)
    kept = [i for b in batches for i, m in zip(ids(b), np.asarray(b["mask"])) if m]
    assert kept == source_ids(toy, "test")
    assert sum(int(np.asarray(b["mask"]).sum()) for b in batches) == 23


def test_resume_equals_uninterrupted(toy, path):
    loader = loader_of(toy, path, seed=5)
    uninterrupted = loader.iterate(0)
    expected = [ids(next(uninterrupted)) for _ in range(20)]
    uninterrupted.close()

    first = loader.iterate(0)
    got = [ids(next(first)) for _ in range(9)]
    state = json.loads(json.dumps(first.get_state()))  # what a checkpoint stores
    first.close()
    assert state["step"] == 9

    fresh_loader = loader_of(toy, path, seed=5)  # a new process: a new loader
    resumed = fresh_loader.iterate(0)
    resumed.set_state(state)
    got += [ids(next(resumed)) for _ in range(11)]
    resumed.close()
    assert got == expected
    started_late = loader.iterate(start_step=9)
    assert [ids(next(started_late)) for _ in range(11)] == expected[9:]
    started_late.close()


def test_iterators_save_with_grains_checkpoint_handler(toy, path, tmp_path):
    """What Orbax uses for ``grain.checkpoint.CheckpointSave`` / ``CheckpointRestore``."""
    import grain

    loader = loader_of(toy, path, seed=2)
    iterator = loader.iterate(0)
    for _ in range(4):
        next(iterator)
    grain.checkpoint.CheckpointHandler().save(tmp_path, item=iterator)
    expected = [ids(next(iterator)) for _ in range(5)]
    iterator.close()
    restored = grain.checkpoint.CheckpointHandler().restore(tmp_path, item=loader.iterate(0))
    assert [ids(next(restored)) for _ in range(5)] == expected
    restored.close()


def test_state_of_another_pipeline_is_refused(toy, path):
    iterator = loader_of(toy, path, seed=0).iterate(3)
    state = iterator.get_state()
    iterator.close()
    other = loader_of(toy, path, seed=0, batch_size=10).iterate(0)
    with pytest.raises(
        ValueError, match="belongs to another pipeline: saved .*batch=8.*this one is .*batch=10"
    ):
        other.set_state(state)
    other.close()
    switched = loader_of(toy, "grain" if path == "device" else "device").iterate(0)
    with pytest.raises(ValueError, match="another pipeline"):
        switched.set_state(state)
    switched.close()


def test_class_balanced_sampling(path):
    ds = toy_dataset(num_train=200, weights=(0.85, 0.1, 0.05))
    counts = ds.class_counts("train")
    assert counts[0] > 8 * counts[2]
    loader = loader_of(ds, path, batch_size=50, class_balanced=True, seed=0)
    batches = [loader.batch(s) for s in range(40)]
    labels = np.concatenate([np.asarray(b["label"]) for b in batches])
    freq = np.bincount(labels, minlength=3) / len(labels)
    np.testing.assert_allclose(freq, 1 / 3, atol=0.04)
    source_labels = ds.labels("train")
    assert all(source_labels[i] == l for b in batches for i, l in zip(ids(b), np.asarray(b["label"])))
    assert ids(loader.batch(7)) == ids(
        loader_of(ds, path, batch_size=50, class_balanced=True, seed=0).batch(7)
    )
    halves = [
        loader_of(ds, path, batch_size=50, class_balanced=True, process_index=p, process_count=2)
        for p in range(2)
    ]
    assert ids(halves[0].batch(3)) + ids(halves[1].batch(3)) == ids(loader.batch(3))


@pytest.mark.parametrize("drop_remainder", [True, False])
def test_both_paths_give_the_same_batches(toy, drop_remainder):
    """The on-device and Grain loaders share the epoch order (`epoch_order`): the same
    examples at every step, whichever path a dataset's size chooses."""
    device, grain_ = (loader_of(toy, path, batch_size=8, seed=5, drop_remainder=drop_remainder)
                      for path in ("device", "grain"))
    for step in (0, 5, 6, 13, 40):
        assert ids(device.batch(step)) == ids(grain_.batch(step)), step


def test_digits_through_both_paths(digits):
    for on_device in (True, False):
        loader = make_loader(digits, "train", batch_size=128, seed=0, on_device=on_device)
        batch = loader.batch(0)
        assert batch["image"].shape == (128, 8, 8, 1) and 0.0 <= float(batch["image"].min())
        x, _y = digits.arrays("test")
        evaluated = list(make_loader(digits, "test", 128, on_device=on_device).eval_batches())
        got = np.concatenate([np.asarray(b["image"])[np.asarray(b["mask"])] for b in evaluated])
        np.testing.assert_array_equal(got, x)


def test_default_path_follows_the_size(digits, monkeypatch):
    import tricks.data._loader as loader_module

    assert make_loader(digits, "train", 32).on_device
    monkeypatch.setattr(loader_module, "DEVICE_BYTES_LIMIT", digits.nbytes("train") - 1)
    assert not make_loader(digits, "train", 32).on_device


def test_single_device_sharding(toy, path):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    loader = loader_of(toy, path, sharding=sharding)
    batch = loader.batch(2)
    assert batch["image"].sharding.is_equivalent_to(sharding, 2)
    assert ids(batch) == ids(loader_of(toy, path).batch(2))


def test_sharded_batches_on_four_devices():
    """In a fresh process with 4 CPU devices: sharded global batches equal unsharded ones."""
    script = textwrap.dedent("""
        import numpy as np, jax
        from tests.data.conftest import toy_dataset
        from tricks.data import make_loader
        assert jax.device_count() == 4
        ds = toy_dataset()
        mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        for on_device in (True, False):
            sharded = make_loader(ds, "train", 8, 0, on_device=on_device, sharding=sharding)
            plain = make_loader(ds, "train", 8, 0, on_device=on_device)
            for step in (0, 9):
                batch = sharded.batch(step)
                assert batch["image"].sharding == sharding, batch["image"].sharding
                assert len(batch["image"].addressable_shards) == 4
                np.testing.assert_array_equal(batch["image"], plain.batch(step)["image"])
            last = list(sharded.eval_batches())[-1]
            assert last["mask"].sharding == sharding and int(last["mask"].sum()) == 50 % 8
            try:
                make_loader(ds, "train", 6, 0, on_device=on_device, sharding=sharding)
            except ValueError as e:
                assert "size of the mesh's 'data' axis (4); nearest valid sizes: 4, 8" in str(e), e
            else:
                raise AssertionError("batch 6 on 4 devices accepted")
        print("ok")
    """)
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_batch_larger_than_the_split(toy, path):
    loader = loader_of(toy, path, split="test", batch_size=64)  # 23 examples
    with pytest.raises(ValueError, match="batch_size 64 is larger than split 'test' \\(23 examples\\)"):
        loader.batch(0)
    with pytest.raises(ValueError, match="batch_size 64 is larger"):
        loader.iterate(0)
    assert len(list(loader.eval_batches())) == 1  # evaluation pads instead


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "valid"}, "unknown split 'valid'; valid splits: train, validation, test"),
        ({"batch_size": 0}, "batch_size must be > 0"),
        (
            {"batch_size": 10, "process_count": 3, "process_index": 0},
            "not divisible by the process count \\(3\\); nearest valid sizes: 9, 12",
        ),
        ({"process_count": 2, "process_index": 2}, "process_index must be in \\[0, process_count=2\\)"),
        ({"seed": -1}, "seed must be in \\[0, 2\\*\\*32\\), got -1"),
        ({"seed": 2**32}, "seed must be in"),
    ],
)
def test_bad_loader_arguments(toy, path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        loader_of(toy, path, **kwargs)
