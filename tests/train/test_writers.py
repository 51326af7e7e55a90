"""TensorBoard events read back from the file: scalars and histograms at their steps."""

import json
import math
import struct
import subprocess
import sys

import numpy as np

from tricks.metrics import TENSORBOARD_BUCKETS, histogram_counts
from tricks.train._writers import JsonlWriter, TensorBoardWriter


def read_events(folder):
    """Every event of the event files in `folder` (TFRecord framing, read by hand)."""
    from tensorboardX.proto.event_pb2 import Event

    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            events.append(Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return [e for e in events if e.HasField("summary")]


def test_scalars_of_a_step_are_one_event_and_read_back(tmp_path):
    writer = TensorBoardWriter(tmp_path)
    writer.write(10, {"train/loss": 0.5, "train/accuracy": np.float32(0.75), "train/lr": float("nan")})
    writer.write(20, {"train/loss": 0.25})
    writer.write(30, {})
    writer.close()
    events = read_events(tmp_path / "tensorboard")
    assert [e.step for e in events] == [10, 20]
    first = {v.tag: v.simple_value for v in events[0].summary.value}
    assert first["train/loss"] == 0.5 and first["train/accuracy"] == 0.75 and math.isnan(first["train/lr"])
    assert {v.tag: v.simple_value for v in events[1].summary.value} == {"train/loss": 0.25}


def test_histograms_read_back_with_tensorboards_buckets(tmp_path):
    values = np.array([-0.5, 0.001, 0.001, 2.0, np.nan])
    writer = TensorBoardWriter(tmp_path)
    writer.histograms(7, {"train/grads/a": histogram_counts(values), "train/grads/b": histogram_counts(np.array([np.inf]))})
    writer.close()
    (event,) = read_events(tmp_path / "tensorboard")
    (value,) = event.summary.value  # b has no finite value: no histogram
    histo = value.histo
    assert event.step == 7 and value.tag == "train/grads/a"
    assert (histo.min, histo.max, histo.num) == (-0.5, 2.0, 4)
    assert sum(histo.bucket) == 4 and np.isclose(histo.sum, 1.502) and np.isclose(histo.sum_squares, 4.250002)
    # each value lies in the bucket named by the first limit above it
    limits = np.array(histo.bucket_limit)
    for v in values[:4]:
        assert histo.bucket[int(np.searchsorted(limits, v, side="right"))] > 0
    assert set(limits) <= set(TENSORBOARD_BUCKETS)


def test_the_config_is_a_text_and_the_hyperparameters_of_the_hparams_tab(tmp_path):
    writer = TensorBoardWriter(tmp_path)
    writer.describe({"batch_size": 128, "optimizer": {"name": "sgd", "learning_rate": 0.1},
                     "distributed": {"auto": False}, "eval_splits": ["test"]}, ["eval/test/accuracy"])
    writer.close()
    tags = [v.tag for e in read_events(tmp_path / "tensorboard") for v in e.summary.value]
    assert "config/text_summary" in tags and "_hparams_/experiment" in tags and "_hparams_/session_start_info" in tags
    events = read_events(tmp_path / "tensorboard")
    start = next(v for e in events for v in e.summary.value if v.tag == "_hparams_/session_start_info")
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    info = HParamsPluginData.FromString(start.metadata.plugin_data.content).session_start_info
    assert info.hparams["batch_size"].number_value == 128
    assert info.hparams["distributed.auto"].bool_value is False
    assert json.loads(info.hparams["optimizer"].string_value) == {"name": "sgd", "learning_rate": 0.1}


def test_one_jsonl_record_per_step(tmp_path):
    writer = JsonlWriter(tmp_path)
    writer.write(10, {"train/loss": 0.5})
    writer.write(10, {"eval/test/accuracy": 0.75})
    writer.write(20, {"train/loss": 0.25})
    assert [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [
        {"step": 10, "train/loss": 0.5, "eval/test/accuracy": 0.75}, {"step": 20, "train/loss": 0.25}]
    writer.close()
    again = JsonlWriter(tmp_path)  # a resumed run appends
    again.write(30, {"train/loss": 0.1})
    again.close()
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [10, 20, 30]


def test_tensorboard_writer_loads_no_torch_and_leaves_tensorboardx_importable(tmp_path):
    """tensorboardX's __init__ imports torch when installed (~1 s a run); the writer skips it."""
    code = (
        "import sys\n"
        "from tricks.train._writers import TensorBoardWriter\n"
        f"w = TensorBoardWriter({str(tmp_path)!r}); w.write(1, {{'train/loss': 0.5}}); w.close()\n"
        "assert 'tensorboardX.writer' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)\n"
        "import tensorboardX\n"
        "assert tensorboardX.SummaryWriter and 'tensorboardX.writer' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
