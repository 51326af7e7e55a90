"""`import tricks` asks XLA:CPU for its own convolution kernels instead of YNNPACK's, unless the user chose."""

import os
import subprocess
import sys

import jax
import jaxlib.version
import pytest

from tricks import _xla_cpu
from tricks._xla_cpu import FLAG, FLAG_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONV_GRADIENT_KERNELS = """
import os
import tricks
import jax, jax.numpy as jnp
conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
loss = lambda x, w, w2: jnp.square(conv(jax.nn.relu(conv(x, w)), w2)).mean()
args = jnp.ones((4, 14, 14, 3)), jnp.ones((3, 3, 3, 64)), jnp.ones((3, 3, 64, 8))  # shapes YNNPACK takes by default
text = jax.jit(jax.grad(loss, argnums=(1, 2))).lower(*args).compile().as_text()
print(os.environ.get("XLA_FLAGS", ""), "|", text.count("convolution("), text.count("__ynn_fusion"))
"""


def conv_kernels(xla_flags: str | None) -> tuple[str, int, int]:
    """XLA_FLAGS after `import tricks` in a fresh interpreter, and the convolutions and YNNPACK
    fusions in the compiled gradients of two convolutions."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    result = subprocess.run([sys.executable, "-c", CONV_GRADIENT_KERNELS], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    flags, counts = result.stdout.strip().rsplit("|", 1)
    convolutions, ynn = (int(n) for n in counts.split())
    return flags.strip(), convolutions, ynn


@pytest.mark.skipif(not _xla_cpu._knows_flag(), reason=f"jaxlib {jaxlib.version.__version__} is not known to have "
                                                         f"the flag")
def test_import_takes_convolutions_away_from_ynnpack_unless_the_user_chose():
    flags, convolutions, ynn = conv_kernels(None)
    assert flags == FLAG
    assert convolutions == 5 and ynn == 0  # forwards and gradients, all XLA's own
    # the user's choice stands: here jaxlib's default, whose YNNPACK convolutions the count above would see
    flags, convolutions, ynn = conv_kernels(f"--{FLAG_NAME}=+individual_convolution")
    assert flags == f"--{FLAG_NAME}=+individual_convolution"
    assert ynn >= 3


def test_nothing_is_added_once_the_backend_has_started(monkeypatch):
    # the backend started with the flags `import tricks` left, not the ones set below (which
    # would then last for every later test in this process)
    jax.devices()
    assert _xla_cpu.backend_started()
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    assert not _xla_cpu.use_xla_convolutions()
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"


@pytest.mark.parametrize("version, added", [("0.10.2", True), ("0.12.0", True), ("0.13.0", False),
                                            ("0.9.2", False), ("0.12.0rc1", False)])
def test_the_flag_is_added_only_for_jaxlibs_that_know_it(monkeypatch, version, added):
    monkeypatch.setattr(jaxlib.version, "__version__", version)
    monkeypatch.setattr(_xla_cpu, "backend_started", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    assert _xla_cpu.use_xla_convolutions() == added
    assert (FLAG in os.environ["XLA_FLAGS"]) == added
