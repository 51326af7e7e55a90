"""Threefry written out on XLA:CPU, as JAX writes it on GPUs and TPUs: registered when `tricks` is imported.

Every random number JAX makes (a dropout mask, a key split or fold-in) comes from its
threefry2x32 hash: 20 rounds of integer additions, rotations and xors, in 5 groups of 4.
JAX writes the rounds out one after the other on GPUs and TPUs, but on CPUs it lowers them
to a ``fori_loop`` over the 5 groups (a shorter program). XLA:CPU then runs each group as
a loop iteration of its own, reading and writing whole arrays between them, where the
written-out rounds fuse into one pass. Measured on the project's 2-core AMD EPYC with AVX2
(jax 0.10.2, session 28):

* two dropout masks of 1024x256 (``jax.random.bernoulli``): 2.8-3.0 ms a call with the
  loop, 1.65-1.78 ms written out;
* the training loop's calls (`tricks.train.Calls`, each config's program compiled both
  ways in turn in one process, ms a step, medians): the default digits MLP (dropout 0.1,
  batch 128) 1.66 -> 1.23; the Fashion-MNIST MLP (dropout 0.2) 3.03 -> 2.57; MNIST-1D's
  ``cnn1d`` 1.69 -> 1.58; the MNIST-1D MLP, without dropout (only the step's key fold-in
  and split), 0.305 -> 0.288;
* compiling one of those calls took 0.15-0.3 s longer (of 3.2-4.5 s), which a run of the
  digits MLP earns back within about 400 steps.

The numbers are the same bits either way: the same integer operations in the same order,
only not in a loop (`tests/test_threefry_cpu.py` compares them). JAX has no public switch
for this, so `write_out_threefry` registers JAX's own written-out lowering rule for the
CPU platform through JAX's private modules; with a JAX that lacks them it does nothing,
and runs keep JAX's loop (same numbers, slower masks). JAX's current source (jax-ml/jax,
read in session 28) has dropped the CPU's loop and writes threefry out on every platform;
with such a JAX the registration repeats what JAX does already.
"""

from __future__ import annotations


def write_out_threefry() -> bool:
    """Registers JAX's written-out threefry lowering for CPUs (see the module); returns
    whether it could.

    Programs lowered before keep their loop; the numbers are the same either way.

    Examples:
        >>> write_out_threefry()   # done when tricks was imported; doing it again changes nothing
        True
    """
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32
        primitive, rule = threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_lowering_rule
    except (ImportError, AttributeError):
        return False
    mlir.register_lowering(primitive, rule, platform="cpu")
    return True
