"""One training step of four models: our loop, a bare jitted step and PyTorch, on this backend.

For each model and batch size (default 128 and 1024), the wall time of one training step
(forward, backward and AdamW update) of:

* ``loop``: our training loop, `tricks.train.train_and_evaluate`, in steady state, timed
  through its ``on_call`` hook as `tools.benchmarks.loop` does (`loop.measure`): the
  batch gathered from the split on the device, per-step metrics, the writers. A log
  record every call (`plan`: up to 100 steps, about `MAX_CALL_SECONDS` of them), no
  histograms or progress bar, evaluation once at the end; the warm-up (compilation)
  left out;
* ``bare`` and ``batched``: `loop.BareStep`, the same model, loss and optimizer as a
  jitted step with donated state, called once per step, and as many steps per call as
  the loop's calls run (``batched``), sampled in turn with the loop;
* when ``import torch`` works, the same architecture written with ``torch.nn``
  (`torch_twin`) in PyTorch's eager mode, eager with channels-last tensors (2-D
  convolutional models), and with the model ``torch.compile``'d (static shapes, the
  optimizer eager; skipped with a note where it fails, e.g. without a C++ compiler),
  each with ``torch.optim.AdamW``
  (``fused=True`` on GPU, PyTorch's default on CPU) and cross-entropy with the same
  label smoothing, on PyTorch's default number of threads, its batch on the device;
* on GPU (elsewhere with ``--bf16``), the same in bfloat16: our config's
  ``precision='bfloat16'`` and PyTorch's ``torch.autocast(dtype=torch.bfloat16)``. The
  CPU goals stay float32 against float32: ``--bf16`` adds figures, not goals.

The models, built through the registry from the spec a config names (`MODELS`): the
default config's ``mlp(widths=(256, 256), dropout=0.1)`` and the registry's default
``cnn`` on 28x28x1 images (uint8 pixels scaled by 1/255, as Fashion-MNIST's), the
default ``cnn1d`` on MNIST-1D's signals of length 40, and ``resnet(depth=20)`` on
28x28x1 images; 10 classes, synthetic data (`synthetic`) in `tricks.data.from_arrays`.
The rest is the default config's: cross-entropy with label smoothing 0.05 and AdamW
with weight decay 1e-4, here at a constant learning rate (3e-3), as PyTorch's.

Each figure is the best of its samples (timeit's convention: other processes only ever
add time, and this machine is shared): ours, one per loop call or two (`plan`), the
loop's and both bare references' back to back (`loop.measure`); PyTorch's, as many
samples of as many steps, after three warm-up steps. The number of timed steps comes
from ``--seconds`` and the bare step's time (``--steps`` fixes it). The table gives ms per
step, images per second, each variant's time over the loop's (``x loop``: above 1 is
slower than our loop) and on GPU the model-FLOPs utilization (MFU): the bare step's
FLOPs by XLA's cost analysis over the time and the device's peak (`PEAK_FLOPS`), the
bfloat16 peak for the bf16 variants, TF32's for float32 (XLA runs float32 convolutions
and matmuls on TF32 tensor cores by default; on an unknown device MFU is left blank).
The goals (issue #20): on CPU the MLP's loop at most 0.6x PyTorch eager's time and the
CNN's at most 1.5x; on GPU ahead of PyTorch's best variant for every model at batch 128
(our faster precision against PyTorch's fastest variant) and, in bfloat16, at or ahead
of PyTorch's best bfloat16 variant at batch 1024. ``bench.json`` (in ``--out``) holds
the machine, the settings, every figure and the goals. Not yet run on a GPU: the tests
take the bfloat16 and MFU paths on CPU only.

Measured on the project's 2-core CPU VM, `tricks bench step` (the defaults, one run of
9.5 min in session 22; jax 0.10.2, torch 2.13.0+cpu on its default 2 threads; ms per
step, the best sample; x loop in brackets; the ResNet-20 at 1024 is one sample of 4
steps, 233 s for its cell):

| model | batch | loop | bare | batched | torch eager | torch.compile | torch channels-last |
|---|---|---|---|---|---|---|---|
| mlp | 128 | 1.228 | 1.356 (1.10) | 1.178 (0.96) | 2.698 (2.20) | 3.670 (2.99) | - |
| mlp | 1024 | 8.820 | 8.456 (0.96) | 8.279 (0.94) | 13.212 (1.50) | 18.300 (2.07) | - |
| cnn | 128 | 45.935 | 48.410 (1.05) | 43.937 (0.96) | 54.481 (1.19) | 72.993 (1.59) | 34.821 (0.76) |
| cnn | 1024 | 764.353 | 981.751 (1.28) | 833.602 (1.09) | 578.092 (0.76) | 609.386 (0.80) | 410.737 (0.54) |
| cnn1d | 128 | 0.650 | 0.787 (1.21) | 0.666 (1.02) | 1.859 (2.86) | 2.271 (3.50) | - |
| cnn1d | 1024 | 3.888 | 4.508 (1.16) | 3.958 (1.02) | 6.380 (1.64) | 6.738 (1.73) | - |
| resnet | 128 | 335.496 | 387.161 (1.15) | 344.619 (1.03) | 195.556 (0.58) | 152.094 (0.45) | 177.263 (0.53) |
| resnet | 1024 | 5301.539 | 6370.224 (1.20) | 6092.509 (1.15) | 2492.505 (0.47) | 1500.375 (0.28) | 1769.863 (0.33) |

The CPU goals: the MLP's loop takes 0.46x PyTorch eager's time at batch 128 (met) and
0.67x at 1024 (not met). At 1024 the goal is below the machine's floor: float32 matrix
products run at 180-215 GFLOP/s on these two cores whoever calls them (NumPy, PyTorch,
XLA), so the 1.28 GFLOP step's products alone take 6.0-7.1 ms, and 0.6x PyTorch's best
eager step (9.47 ms, in an earlier run) is 5.7 ms; ours runs the step at 145 GFLOP/s.
The CNN's loop takes 0.84x at 128 and 1.32x at 1024 (met), though PyTorch's
channels-last step is 1.3x and 1.9x faster than ours. PyTorch runs ResNet-20 1.7-3.5x
faster (no goal on CPU; not looked into here). The machine's pace moves between runs:
the earlier run had the CNN at 1024 at 484.6 ms (ours) and 484.6 (PyTorch eager), the
MLP at 1024 at 8.58 and 9.47. That run had the machine to itself (load average at most
1.9, the benchmark's own). Two earlier runs shared it with a test suite (load 3-4): ours
moved by up to 1.7x, PyTorch's by up to 30x (MLP at 128: 74 ms; its two threads wait on
each other when a core is taken).

Those figures ran with YNNPACK's convolutions (jaxlib's default), which `import tricks`
has left out since session 24 (`tricks._xla_cpu`). On a 2-core AVX2 machine without them
(session 24; README has the table) the CNN's loop took 0.78x PyTorch eager's time at batch
128 and 0.38x at 1024 (there, with YNNPACK's, 1.16x and 1.91x in session 23), ResNet-20's
1.05x at batch 128; the MLP at 1024 took 0.80x (goal 0.6x, not met). Since session 28,
with threefry written out (`tricks._threefry_cpu`: dropout's masks 1.7x faster), the MLP
at 1024 takes 0.52x and 0.57x there (12.1 ms a step, two runs), the CNN 0.84x and 0.45x:
every CPU goal met on that machine (README has the tables).

Examples:
  tricks bench step
  tricks bench step --models mlp cnn --batch-sizes 128 --seconds 10
  tricks bench step --quick --out /tmp/bench
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from tools.benchmarks import loop

CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Model:
    """A model of the benchmark.

    Attributes:
        spec: the model as a config names it (built through the registry).
        shape: one example's shape, as our models take it (NHWC images, signals (L,)).
        conv2d: whether it has 2-D convolutions (PyTorch's channels-last applies).
    """

    spec: str
    shape: tuple[int, ...]
    conv2d: bool


MODELS = {
    "mlp": Model("mlp(widths=(256, 256), dropout=0.1)", (28, 28, 1), False),
    "cnn": Model("cnn", (28, 28, 1), True),
    "cnn1d": Model("cnn1d", (40,), False),
    "resnet": Model("resnet(depth=20)", (28, 28, 1), True),
}
"""The models measured, by the name ``--models`` takes."""

PEAK_FLOPS = (
    ("H200", 989e12, 494e12),
    ("H100 PCIe", 756e12, 378e12),
    ("H100", 989e12, 494e12),
    ("A100", 312e12, 156e12),
)
"""Dense peak FLOP/s by device kind (the first entry the kind contains): bfloat16 and TF32
tensor cores (NVIDIA's data sheets, without sparsity). Float32 on the ordinary cores
peaks far lower (H100 SXM and H200: 67e12, A100: 19.5e12); XLA runs float32
convolutions and matmuls on TF32 by default, so float32 variants are held against TF32."""

TORCH_WARM = 3
"""PyTorch's steps before it is timed (``torch.compile`` compiles in the first)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="(default: all)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[128, 1024], help="(default: 128 1024)")
    parser.add_argument("--steps", type=int, default=0,
                        help="steps timed per variant (0: about --seconds of the bare step's)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds timed per variant when --steps is 0")
    parser.add_argument("--quick", action="store_true", help="about 0.2 s per variant (a smoke run)")
    parser.add_argument("--bf16", action="store_true",
                        help="measure the bfloat16 variants (ours and PyTorch's autocast) off a GPU too")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/bench_step"),
                        help="the folder of bench.json (default: runs/bench_step)")


def synthetic(shape: tuple[int, ...], examples: int, seed: int = 0):
    """A dataset of `examples` random inputs of `shape` and labels, plus a test split of 100.

    Images (three axes) are uint8 pixels scaled by 1/255 when batched; signals are float32.

    Examples:
        >>> ds = synthetic((28, 28, 1), 256)
        >>> ds.input_shape, ds.split_sizes["train"], len(ds.class_names)
        ((28, 28, 1), 256, 10)
    """
    from tricks.data import from_arrays

    rng = np.random.default_rng(seed)
    total = examples + 100
    if len(shape) == 3:
        x, scale = rng.integers(0, 256, (total, *shape), dtype=np.uint8), 1 / 255
    else:
        x, scale = rng.standard_normal((total, *shape), dtype=np.float32), 1.0
    y = np.arange(total) % CLASSES
    return from_arrays((x[:examples], y[:examples]), (x[examples:], y[examples:]), scale=scale)


def config(model: str, batch_size: int, precision: str = "float32", log_every: int = 100):
    """The default config training `model` on `synthetic` data at `batch_size`, without
    histograms or progress bar.

    Examples:
        >>> cfg = config("cnn1d", 64)
        >>> cfg.model, cfg.batch_size, cfg.log_every, cfg.dataset.input_shape
        ('cnn1d', 64, 100, (40,))
    """
    from tricks import train

    cfg = train.default_config()
    cfg.dataset = synthetic(MODELS[model].shape, 4 * batch_size)
    cfg.model, cfg.batch_size = MODELS[model].spec, batch_size
    cfg.optimizer = "adamw(learning_rate=0.003, weight_decay=0.0001)"  # constant, as PyTorch's
    cfg.log_every, cfg.histogram_every, cfg.progress = log_every, 0, False
    if precision != "float32":
        cfg.precision = precision
    return train.complete(cfg)


@dataclasses.dataclass
class Plan:
    """How one cell is timed: steps after the warm-up steps, loop calls per sample (segment), log interval."""

    steps: int
    warm: int
    segment: int
    log_every: int


def plan(seconds_per_step: float, seconds: float, steps: int = 0) -> Plan:
    """How to time our loop for a step of `seconds_per_step`: `steps` steps, or about
    `seconds` of them, after the warm-up.

    The warm-up is the loop's first call, which runs to the first log step (compilation
    included); the log interval is about `MAX_CALL_SECONDS` of steps (from 1 to 100), so
    that call is short where steps are slow.
    Later calls run as the pace says, which the sampling (`loop.measure`) stretches up
    to 100 steps: its hook waits for the device, and the hook's time is left out of the
    pace. A sample is every call after the first, or every two where at least six calls
    of 100 steps are timed (the host's work for a call then overlaps the device's for
    the one before, as in a run without the hook).

    Examples:
        >>> plan(0.001, 5.0)
        Plan(steps=5000, warm=100, segment=2, log_every=100)
        >>> plan(0.1, 5.0)
        Plan(steps=50, warm=5, segment=1, log_every=5)
        >>> plan(5.5, 5.0)
        Plan(steps=1, warm=1, segment=1, log_every=1)
    """
    from tricks.train._calls import AUTO_STEPS_PER_CALL, MAX_CALL_SECONDS

    call = max(1, min(AUTO_STEPS_PER_CALL, int(MAX_CALL_SECONDS / seconds_per_step)))
    timed = max(1, round(steps or seconds / seconds_per_step))
    return Plan(timed, call, 2 if timed >= 6 * AUTO_STEPS_PER_CALL else 1, call)


def ours(cfg, timing: Plan, suffix: str = "") -> tuple[dict[str, float], int, str]:
    """Best seconds per step of our loop and its bare references over their samples, how
    many samples, and the loop's form."""
    samples, calls = loop.measure(cfg, timing.steps, timing.segment, timing.warm)
    form = f"a loop of {calls.window} steps per call"
    return {name + suffix: min(times) for name, times in samples.items() if times}, len(samples["loop"]), form


def torch_note() -> str | None:
    """Why the PyTorch variants are skipped here, or None."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not importable: the torch variants are skipped"
    return None


def torch_twin(name: str):
    """The PyTorch module of the same architecture as `MODELS[name]` (torch imported here).

    Same layer sizes, batch norm where ours has it, dropout where ours has it; PyTorch's
    own initialization.
    """
    from torch import nn

    conv = dict(kernel_size=3, padding=1)
    twins = {
        "mlp": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.1),
                                     nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, CLASSES)),
        "cnn": lambda: nn.Sequential(nn.Conv2d(1, 32, **conv), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(32, 64, **conv), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                     nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, CLASSES)),
        "cnn1d": lambda: nn.Sequential(nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(),
                                       nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(),
                                       nn.Linear(25 * 5, CLASSES)),
        "resnet": lambda: _torch_resnet(blocks_per_stage=3),
    }
    return twins[name]()


def _torch_resnet(blocks_per_stage: int, width: int = 16):
    """`tricks.models.resnet`'s CIFAR ResNet in PyTorch: 'pad' shortcuts (option A), no biases in convs."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, features: int, inputs: int, stride: int):
            super().__init__()
            self.stride, self.extra = stride, features - inputs
            self.body = nn.Sequential(nn.Conv2d(inputs, features, 3, stride, 1, bias=False), nn.BatchNorm2d(features),
                                      nn.ReLU(), nn.Conv2d(features, features, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(features))

        def forward(self, x):
            shortcut = x[:, :, ::self.stride, ::self.stride]
            if self.extra:
                shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
            return torch.relu(self.body(x) + shortcut)

    layers = [nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    inputs = width
    for stage in range(3):
        for b in range(blocks_per_stage):
            layers.append(Block(width * 2**stage, inputs, 2 if stage and not b else 1))
            inputs = width * 2**stage
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inputs, CLASSES))


def torch_variants(name: str, batch_size: int, bf16: bool) -> dict[str, Callable[[], Callable[[], None]]]:
    """PyTorch's variants of one cell, each a builder of its step function (a training step)."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = MODELS[name]
    shape = (model.shape[-1], *model.shape[:-1]) if len(model.shape) == 3 else (1, *model.shape)
    x = torch.rand(batch_size, *shape, device=device)
    y = torch.randint(0, CLASSES, (batch_size,), device=device)
    layouts = {"torch eager": (False, False), "torch.compile": (False, True)}
    if model.conv2d:
        layouts["torch channels-last"] = (True, False)
    found = {}
    for precision in (False, True) if bf16 else (False,):
        for label, (channels_last, compiled) in layouts.items():
            found[label + (" bf16" if precision else "")] = _torch_builder(name, x, y, channels_last, compiled,
                                                                           precision)
    return found


def _torch_builder(name, x, y, channels_last: bool, compiled: bool, bf16: bool):
    def build() -> Callable[[], None]:
        import torch

        module, images = torch_twin(name).to(x.device), x
        if channels_last:
            module, images = module.to(memory_format=torch.channels_last), x.contiguous(
                memory_format=torch.channels_last)
        opt = torch.optim.AdamW(module.parameters(), lr=3e-3, weight_decay=1e-4, fused=x.is_cuda or None)
        if compiled:  # a fresh cache: every twin's forward is the one nn.Sequential.forward
            torch._dynamo.reset()
        forward = torch.compile(module, dynamic=False) if compiled else module

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(forward(images), y, label_smoothing=0.05)
            loss.backward()
            opt.step()

        return step

    return build


def torch_seconds(step: Callable[[], None], steps: int, samples: int) -> float:
    """Best seconds per step of `step` over `samples` samples of `steps` in all, after `TORCH_WARM` steps."""
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    per_sample, times = max(1, steps // samples), []
    for i in range(TORCH_WARM + samples):
        start = time.perf_counter()
        for _ in range(1 if i < TORCH_WARM else per_sample):
            step()
        sync()
        if i >= TORCH_WARM:
            times.append((time.perf_counter() - start) / per_sample)
    return min(times)


def measure_torch(name: str, batch_size: int, steps: int, samples: int,
                  bf16: bool) -> tuple[dict[str, float], dict[str, str]]:
    """Best seconds per step of each PyTorch variant over `samples` of `steps` in all, and
    the variants skipped, with why."""
    times, skipped = {}, {}
    for variant, build in torch_variants(name, batch_size, bf16).items():
        try:
            times[variant] = torch_seconds(build(), steps, samples)
        except Exception as exc:  # torch.compile without a compiler, a backend error: a note, not a crash
            skipped[variant] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"
        print(f"    {variant}: " + (f"{times[variant] * 1e3:.3f} ms" if variant in times else "skipped"), flush=True)
    return times, skipped


def peak_flops(kind: str) -> tuple[float, float] | None:
    """(bfloat16, TF32) peak FLOP/s of a device kind, or None when the table lacks it.

    Examples:
        >>> peak_flops("NVIDIA H100 80GB HBM3"), peak_flops("cpu")
        ((989000000000000.0, 494000000000000.0), None)
    """
    return next(((bf16, tf32) for part, bf16, tf32 in PEAK_FLOPS if part in kind), None)


def cell(name: str, batch_size: int, args: argparse.Namespace, gpu: bool) -> dict[str, Any]:
    """Every variant of one model at one batch size: seconds per step, FLOPs, what was skipped,
    the machine's load average at the end (other processes slow the figures down), the cell's wall time."""
    from tricks import train

    began = time.perf_counter()
    reference = loop.BareStep(train.setup(config(name, batch_size)))
    estimate = reference.seconds_per_step(2)
    timing = plan(estimate, 0.2 if args.quick else args.seconds, args.steps)
    print(f"{name} ({MODELS[name].spec}), batch {batch_size}: {timing.steps} steps timed after {timing.warm}, "
          f"samples of {timing.segment} calls, log_every {timing.log_every}", flush=True)
    times, samples, form = ours(config(name, batch_size, log_every=timing.log_every), timing)
    skipped = {} if "loop" in times else {"loop": "no sample after the warm-up: use more --steps"}
    bf16 = gpu or args.bf16
    if bf16:
        times.update(ours(config(name, batch_size, "bfloat16", timing.log_every), timing, " bf16")[0])
    note = torch_note()
    if note:
        skipped["torch"] = note
    else:
        found, failed = measure_torch(name, batch_size, timing.steps, max(1, samples), bf16)
        times.update(found)
        skipped.update(failed)
    return {"model": name, "spec": MODELS[name].spec, "input_shape": list(MODELS[name].shape),
            "batch_size": batch_size, "steps": timing.steps, "samples": samples, "loop_form": form,
            "flops_per_step": reference.flops(),
            "seconds_per_step": times, "skipped": skipped, "load_average": os.getloadavg()[0],
            "wall_s": time.perf_counter() - began}


def figures(result: dict[str, Any], peaks: tuple[float, float] | None) -> dict[str, dict[str, float | None]]:
    """Per variant: ms per step, images per second, time over the loop's, MFU (None without a peak).

    Examples:
        >>> result = {"batch_size": 100, "flops_per_step": 2e9, "seconds_per_step": {"loop": 0.01, "torch eager": 0.02}}
        >>> figures(result, (1e12, 5e11))["torch eager"]
        {'ms_per_step': 20.0, 'images_per_s': 5000.0, 'x_loop': 2.0, 'mfu': 0.2}
    """
    loop_s = result["seconds_per_step"].get("loop")
    out = {}
    for variant, seconds in result["seconds_per_step"].items():
        peak = peaks and (peaks[0] if variant.endswith("bf16") else peaks[1])
        out[variant] = {"ms_per_step": seconds * 1e3, "images_per_s": result["batch_size"] / seconds,
                        "x_loop": seconds / loop_s if loop_s else None,
                        "mfu": result["flops_per_step"] / seconds / peak if peak else None}
    return out


def goals(results: list[dict[str, Any]], gpu: bool) -> list[dict[str, Any]]:
    """The issue's goals on this backend (`CPU_GOALS`, `gpu_goal`): what each compares, its value, whether it is met.

    Examples:
        >>> times = {"loop": 1.0, "torch eager": 2.0}
        >>> goals([{"model": "mlp", "batch_size": 128, "seconds_per_step": times}], gpu=False)
        [{'goal': 'mlp, batch 128: loop / torch eager <= 0.6', 'value': 0.5, 'met': True}]
    """
    found = [(gpu_goal if gpu else cpu_goal)(r["seconds_per_step"], r["model"], r["batch_size"]) for r in results]
    return [g for g in found if g is not None]


CPU_GOALS = {"mlp": 0.6, "cnn": 1.5}
"""On CPU, the most of PyTorch eager's time per step our loop may take, by model."""


def cpu_goal(times: dict[str, float], model: str, batch_size: int) -> dict[str, Any] | None:
    """Our loop's time over PyTorch eager's against `CPU_GOALS` (None: no goal, or not measured)."""
    bound = CPU_GOALS.get(model)
    if bound is None or not {"loop", "torch eager"} <= set(times):
        return None
    return _goal(f"{model}, batch {batch_size}: loop / torch eager <= {bound}", times["loop"] / times["torch eager"],
                 times["loop"] / times["torch eager"] <= bound)


def gpu_goal(times: dict[str, float], model: str, batch_size: int) -> dict[str, Any] | None:
    """At batch 128, our faster loop (either precision) ahead of PyTorch's fastest variant;
    at 1024, our bfloat16 loop at or ahead of PyTorch's fastest bfloat16 one (None: neither).

    Examples:
        >>> times = {"loop": 2.0, "loop bf16": 1.0, "torch eager": 1.5, "torch eager bf16": 1.0}
        >>> gpu_goal(times, "cnn", 1024)
        {'goal': "cnn, batch 1024: loop bf16 / torch's fastest bf16 <= 1", 'value': 1.0, 'met': True}
    """
    def fastest(prefix: str, suffix: str = "") -> float | None:
        return min((t for k, t in times.items() if k.startswith(prefix) and k.endswith(suffix)), default=None)

    where = f"{model}, batch {batch_size}"
    if batch_size == 128 and fastest("loop") and fastest("torch"):
        ratio = fastest("loop") / fastest("torch")
        return _goal(f"{where}: our faster loop / torch's fastest < 1", ratio, ratio < 1)
    if batch_size == 1024 and "loop bf16" in times and fastest("torch", "bf16"):
        ratio = times["loop bf16"] / fastest("torch", "bf16")
        return _goal(f"{where}: loop bf16 / torch's fastest bf16 <= 1", ratio, ratio <= 1)
    return None


def _goal(text: str, value: float, met: bool) -> dict[str, Any]:
    return {"goal": text, "value": round(value, 3), "met": met}


def machine() -> dict[str, Any]:
    """The machine and the versions measured: platform, device, CPUs, jax, jaxlib, torch, date."""
    import jaxlib

    from tricks.train import code_version

    device = jax.devices()[0]
    info = {"platform": platform.platform(), "python": platform.python_version(), "backend": jax.default_backend(),
            "device_kind": device.device_kind, "device_count": jax.device_count(), "cpu_count": os.cpu_count(),
            "jax": jax.__version__, "jaxlib": jaxlib.__version__, "code": code_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if torch_note() is None:
        import torch

        info |= {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                 "torch_device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}
    return info


def on_gpu() -> bool:
    """Whether JAX runs on a GPU here (then bfloat16 variants and MFU are measured too)."""
    return jax.default_backend() == "gpu"


def run(args: argparse.Namespace) -> int:
    if any(b < 1 for b in args.batch_sizes):
        print(f"tricks bench step: batch sizes must be positive, got {args.batch_sizes}")
        return 2
    gpu = on_gpu()
    info = machine()
    peaks = peak_flops(info["device_kind"]) if gpu else None
    print(", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    results = [cell(name, batch, args, gpu) for name in args.models for batch in args.batch_sizes]
    for r in results:
        r["figures"] = figures(r, peaks)
        _print_cell(r, gpu)
    print("\n" + "\n".join(summary(results)))
    met = goals(results, gpu)
    print("\ngoals (issue #20):" if met else "\ngoals (issue #20): none measured here (torch, or the models, missing)")
    for g in met:
        print(f"  {g['goal']}: {g['value']:.3f}  {'met' if g['met'] else 'NOT met'}")
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in ("models", "batch_sizes", "steps", "seconds", "quick", "bf16")}
    (args.out / "bench.json").write_text(json.dumps(
        {"machine": info, "settings": settings, "peak_flops": peaks, "results": results, "goals": met}, indent=1))
    print(f"wrote {args.out / 'bench.json'}")
    return 0


def _print_cell(result: dict[str, Any], gpu: bool) -> None:
    print(f"\n{result['model']} ({result['spec']}), batch {result['batch_size']}, input "
          f"{'x'.join(map(str, result['input_shape']))}: {result['flops_per_step'] / 1e9:.3f} GFLOP per step "
          f"(XLA), the loop runs {result['loop_form']}; load average {result['load_average']:.1f}, "
          f"{result['wall_s']:.0f} s")
    print(f"  {'variant':<22} {'ms/step':>10} {'images/s':>10} {'x loop':>7}" + (f" {'MFU':>6}" if gpu else ""))
    for variant, f in result["figures"].items():
        mfu = f" {f['mfu']:6.1%}" if f["mfu"] is not None else f" {'':>6}"
        ratio = f"{f['x_loop']:7.2f}" if f["x_loop"] is not None else f"{'-':>7}"
        print(f"  {variant:<22} {f['ms_per_step']:10.3f} {f['images_per_s']:10.0f} {ratio}" + (mfu if gpu else ""))
    for variant, why in result["skipped"].items():
        print(f"  {variant:<22} skipped: {why}")


def summary(results: list[dict[str, Any]]) -> list[str]:
    """A markdown table: ms per step of every variant (x loop in brackets), a row per model and batch.

    Examples:
        >>> r = {"model": "mlp", "batch_size": 8, "figures": {"loop": {"ms_per_step": 2.0, "x_loop": 1.0}}}
        >>> summary([r])[2]
        '| mlp | 8 | 2.000 |'
    """
    variants = list(dict.fromkeys(v for r in results for v in r["figures"]))
    lines = ["| model | batch | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    for r in results:
        cells = []
        for v in variants:
            f = r["figures"].get(v)
            ratio = "" if f is None or v == "loop" or f["x_loop"] is None else f" ({f['x_loop']:.2f})"
            cells.append("-" if f is None else f"{f['ms_per_step']:.3f}{ratio}")
        lines.append(f"| {r['model']} | {r['batch_size']} | " + " | ".join(cells) + " |")
    return lines
