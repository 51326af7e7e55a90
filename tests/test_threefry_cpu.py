"""`import tricks` has XLA:CPU run threefry written out instead of as a loop: the same bits, no loop."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tricks  # noqa: F401  (registers the written-out lowering)
from tricks import _threefry_cpu

threefry2x32 = pytest.importorskip("jax._src.random.threefry2x32")
mlir = pytest.importorskip("jax._src.interpreters.mlir")


def draws(key):
    """Random numbers of every kind a run uses: key fold-ins and splits, bits, dropout masks,
    normals (initialization), under vmap (members side by side)."""
    folded = jax.random.fold_in(key, 7)
    a, b = jax.random.split(folded)
    return {"split": jax.random.key_data(jax.random.split(a, 3)), "bits": jax.random.bits(b, (5, 33)),
            "mask": jax.random.bernoulli(a, 0.9, (64, 257)), "normal": jax.random.normal(b, (3, 1000)),
            "members": jax.vmap(lambda k: jax.random.uniform(k, (17,)))(jax.random.split(key, 4))}


def compiled(rule):
    """`draws`, lowered with `rule` for the CPU (a fresh jit, so it is lowered anew)."""
    mlir.register_lowering(threefry2x32.threefry2x32_p, rule, platform="cpu")
    try:
        fn = jax.jit(lambda key: draws(key))  # (a new function: not the cache of the last one)
        return fn(jax.random.key(42)), fn.lower(jax.random.key(42)).compile().as_text()
    finally:
        assert _threefry_cpu.write_out_threefry()


LOOPED = getattr(threefry2x32, "_threefry2x32_cpu_lowering_rule", None)
"""JAX's rolled lowering for CPUs (None: this JAX writes threefry out on CPUs too)."""


@pytest.mark.skipif(jax.default_backend() != "cpu" or LOOPED is None, reason="JAX's loop on CPUs")
def test_written_out_threefry_draws_the_same_bits_as_jaxs_loop_and_has_no_loop():
    looped, looped_text = compiled(LOOPED)
    written, written_text = compiled(threefry2x32._threefry2x32_lowering_rule)
    for name in looped:
        np.testing.assert_array_equal(np.asarray(written[name]), np.asarray(looped[name]), err_msg=name)
    assert "while(" in looped_text and "while(" not in written_text
    assert jnp.asarray(written["mask"]).mean() == pytest.approx(0.9, abs=0.01)


MASK_PROGRAM = """
import jax
{imports}
text = jax.jit(lambda k: jax.random.bernoulli(k, 0.5, (8, 8))).lower(jax.random.key(0)).compile().as_text()
print(jax.default_backend(), "while(" in text)
"""


@pytest.mark.parametrize("imports, looped", [("", LOOPED is not None), ("import tricks", False)])
def test_importing_tricks_is_what_writes_threefry_out(imports, looped):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", MASK_PROGRAM.format(imports=imports)], capture_output=True,
                            text=True, cwd=root, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    backend, has_loop = result.stdout.split()
    if backend != "cpu":
        pytest.skip("the CPU's lowering")
    assert has_loop == str(looped)
