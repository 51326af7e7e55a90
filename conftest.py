"""Test-session settings shared by every test and doctest (loaded before any test imports JAX).

Compiling dominates the suite's run time on CPU, and its programs are small: XLA is
asked to skip LLVM's expensive optimization passes, which cut the CPU time of the
training and ensemble tests by about 35% (measured: 176 s -> 113 s) and leave what the
programs compute unchanged. Tests that start subprocesses pass ``$XLA_FLAGS`` on, so
both sides of a comparison compile alike. TRICKS_TEST_FULL_OPT=1 tests with XLA's
default compilation instead.
"""

import os

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"

if not os.environ.get("TRICKS_TEST_FULL_OPT"):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()
