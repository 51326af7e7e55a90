"""Test-session settings shared by every test and doctest (loaded before any test imports JAX).

Compiling dominates the suite's run time on CPU, and its programs are small: XLA is
asked to skip LLVM's expensive optimization passes, which cut the CPU time of the
training and ensemble tests by about 35% (measured: 176 s -> 113 s) and leave what the
programs compute unchanged. Tests that start subprocesses pass ``$XLA_FLAGS`` on, so
both sides of a comparison compile alike. TRICKS_TEST_FULL_OPT=1 tests with XLA's
default compilation instead.

The runs of the suite share one persistent compilation cache (``$TRICKS_CACHE/xla``, the
default of every config's ``compilation_cache``), new for each session (for each of
its worker processes, under ``pytest -n``) and removed at its end, so a program
compiled by one test is loaded by the next that builds it. A hit
is the executable that compiling the same program with the same flags would give, so
no test sees other numbers; and no session starts warm from an earlier one (whose JAX
or code may have been another). Tests that set ``$TRICKS_CACHE`` themselves get caches
of their own.
"""

import atexit
import os
import shutil
import tempfile

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"

if not os.environ.get("TRICKS_TEST_FULL_OPT"):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()

if "TRICKS_CACHE" not in os.environ:
    os.environ["TRICKS_CACHE"] = tempfile.mkdtemp(prefix="tricks-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TRICKS_CACHE"], True)
