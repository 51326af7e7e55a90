"""`jit` for the optimizer tests: `jax.jit` compiling without LLVM's expensive passes.

The tests compile a few hundred small programs, and compiling dominates their run time;
these options leave the programs and their floating-point semantics unchanged and halve
the compile time on CPU.
"""

import functools

import jax

OPTIONS = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}

jit = functools.partial(jax.jit, compiler_options=OPTIONS)
