"""Datasets as TFDS builders read with `tfds.data_source`, and two input pipelines behind one interface.

No TensorFlow anywhere: the builders write array_record files and read them back with
``tfds.data_source``.

Datasets (kind ``dataset``; building one prepares it once into the TFDS data dir,
``data_dir`` or ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``, then reuses it; TFDS
writes into an ``incomplete.*`` folder and renames it when done, so an interrupted
preparation is never taken for a finished one):

- ``digits``: scikit-learn's 8x8 digits, 1437 train / 360 test (stratified 80/20,
  ``random_state=0``); the embedded default.
- ``mnist1d``: MNIST-1D from the ``mnist1d`` package's standard arguments, generated
  offline: 4000 train / 1000 test signals of length 40.
- ``fashion_mnist``: the four IDX files of Debian's ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``) or of ``source_dir``: 60000 / 10000, 28x28x1.
- ``tfds(name=...)``: any TFDS catalogue dataset already prepared as array_record, or
  served by ``tfds.testing.mock_data`` in tests (an unknown name TFDS has, such as
  ``cifar10``, is refused with "did you mean tfds(name='cifar10')?").
- ``subset(dataset, classes=..., train_per_class=...)``: some classes of another dataset,
  relabelled 0..k-1, optionally with few labelled examples per class (transfer experiments).

Each gives a `Dataset`: ``name``, ``num_classes``, ``input_shape`` (one example),
``class_names``, ``split_sizes``, ``splits`` (the non-empty ones),
``arrays(split) -> (x float32, y int32)``, ``class_counts(split)``, ``labels(split)``,
``source(split)`` (random access, for Grain).
Splits are ``"train"``, ``"validation"`` (carved from the source train split by
`carve_validation`: ``validation_fraction`` with ``validation_seed``, the same on every
machine, disjoint from ``"train"``) and ``"test"``.

The loader interface (``make_loader(dataset, split, batch_size, seed, ...)`` -> `Loader`),
the same for both paths:

- ``loader.batch(step)``: the training batch of a step, ``{"image": float32 (B, *input_shape),
  "label": int32 (B,)}`` as jax arrays, a pure function of (seed, step).
- ``loader.iterate(start_step)``: those batches from ``start_step`` on, forever: a
  `StepIterator` (a ``grain.DatasetIterator``) whose ``get_state()`` is a JSON-able dict
  ``{"step": ..., "pipeline": ..., ...}`` and ``set_state(state)`` resumes exactly there
  (Orbax saves it with ``grain.checkpoint.CheckpointSave(iterator)``).
- ``loader.eval_batches()``: one in-order pass over the split in batches of B, the last
  one padded; each batch adds ``"mask"`` (bool (B,)), False on padding rows, so every
  example counts exactly once. ``loader.num_eval_batches`` of them.
- ``loader.steps_per_epoch``, ``batch_size`` (global), ``local_batch_size``,
  ``num_examples``, ``on_device``.

Processes: every global batch is the same whatever the number of processes; process p
of P reads rows ``[p B/P, (p+1) B/P)``. With ``sharding`` (a ``NamedSharding`` splitting
the batch on the mesh's ``"data"`` axis) batches come out as global arrays with that
sharding; without it each process gets its rows on its default device (assemble them
with ``jax.make_array_from_process_local_data``).

Speed, measured on this project's 2-core CPU machine shared with other jobs (images/s
delivered, batch 128, ``python tests/data/bench_loaders.py``): the on-device loader
550k to 590k on digits and 130k to 290k on Fashion-MNIST (about 0.15 ms per batch, plus
one permutation per epoch); Grain 7k to 15k on digits and 6k to 9k on Fashion-MNIST
whatever its thread count (0 to 16), bound by TFDS's per-record decoding (70 to 120 us
per example). Decoding Fashion-MNIST's train split into memory takes 4 to 14 s for the
same reason, so the decoded arrays of a split are cached as ``.npy`` files next to the
prepared data (`CachedSource`): later runs read them in about 0.5 s. Small datasets
therefore go on the device by default.

Examples:
    >>> import registry, tempfile, tricks
    >>> from tricks.data import make_loader
    >>> ds = registry.build("dataset", {"name": "digits", "data_dir": tempfile.mkdtemp()})
    >>> ds.num_classes, ds.class_counts("test").tolist()
    (10, [36, 36, 35, 37, 36, 37, 36, 36, 35, 36])
    >>> loader = make_loader(ds, "train", batch_size=128, seed=0)
    >>> batch = loader.batch(0)
    >>> batch["image"].shape, float(batch["image"].max()) <= 1.0
    ((128, 8, 8, 1), True)
"""

from tricks.data import _catalogue
from tricks.data._arrays import IN_MEMORY, from_arrays
from tricks.data._base import Batch, ClassTable, Layout, Loader, StepIterator, epoch_order
from tricks.data._builders import TricksDigits, TricksFashionMnist, TricksMnist1d
from tricks.data._cache import CachedSource
from tricks.data._dataset import SPLITS, Dataset, SplitSource
from tricks.data._device import DeviceLoader
from tricks.data._grain import GrainLoader
from tricks.data._idx import IdxError, read_idx
from tricks.data._loader import DEVICE_BYTES_LIMIT, make_loader
from tricks.data._split import carve_validation

digits = _catalogue.digits
mnist1d = _catalogue.mnist1d
fashion_mnist = _catalogue.fashion_mnist
tfds_catalogue = _catalogue.tfds_catalogue
subset = _catalogue.subset

__all__ = [
    "IN_MEMORY",
    "Batch",
    "CachedSource",
    "ClassTable",
    "DEVICE_BYTES_LIMIT",
    "Dataset",
    "DeviceLoader",
    "GrainLoader",
    "IdxError",
    "Layout",
    "Loader",
    "SPLITS",
    "SplitSource",
    "StepIterator",
    "TricksDigits",
    "TricksFashionMnist",
    "TricksMnist1d",
    "carve_validation",
    "digits",
    "epoch_order",
    "fashion_mnist",
    "from_arrays",
    "make_loader",
    "mnist1d",
    "read_idx",
    "subset",
    "tfds_catalogue",
]
