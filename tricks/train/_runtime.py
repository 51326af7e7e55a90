"""What a run asks of the process: the persistent compilation cache, and deterministic GPU kernels.

Both are settings of the JAX process rather than of one program, so `setup` applies them
before anything is built (`use_runtime`).

* **The compilation cache** (config ``compilation_cache``): JAX's persistent cache keeps
  every compiled program in a folder, keyed by the program, the
  backend and the JAX version, so a second run of the same config loads its programs
  instead of compiling them. A folder that cannot be written gives a warning and the run
  goes on uncached. A hit gives the very executable a compilation would, so the cache
  changes no number.
* **Deterministic kernels** (config ``deterministic``): on GPU, XLA picks atomics-based
  reductions and scatters, whose summation order varies from run to run, unless
  ``--xla_gpu_deterministic_ops=true`` is in ``XLA_FLAGS`` when the backend starts. The
  flag is added to the environment when the backend has not started yet; once it has, it
  is too late, and a run on a GPU says so (a warning) instead of silently differing.
  XLA:CPU and TPUs are deterministic already; the flag changes nothing there.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import warnings
from collections.abc import Iterator

import jax
from jax.experimental.compilation_cache import compilation_cache

from tricks._xla_cpu import backend_started

CACHE_ENV = "TRICKS_CACHE"
"""The environment variable naming tricks' cache folder (default ``~/.cache/tricks``): the
compilation cache's ``xla/`` and the side-by-side measurements (`tricks.train.side_by_side`)."""
MIN_COMPILE_S = 0.0
"""Programs that compile faster than this are not cached: none. JAX's default, 1 s, leaves
out most of a small run's programs, and the many small ones add up: initializing a model
runs op by op (about 50 programs for the digits MLP, 1.3 s to compile on 2 CPU cores, each
well under 0.1 s). Loading one from the cache takes milliseconds."""
DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def cache_root() -> pathlib.Path:
    """tricks' cache folder: ``$TRICKS_CACHE`` when set, else ``~/.cache/tricks``.

    Examples:
        >>> import os
        >>> str(cache_root()) == os.environ.get("TRICKS_CACHE", str(pathlib.Path.home() / ".cache" / "tricks"))
        True
    """
    return pathlib.Path(os.environ.get(CACHE_ENV) or pathlib.Path.home() / ".cache" / "tricks")


def use_runtime(compilation_cache_dir: str, deterministic: bool) -> None:
    """Applies a run's ``compilation_cache`` and ``deterministic`` fields to this process.

    Examples:
        >>> use_runtime("", deterministic=True)   # no cache; deterministic kernels asked for
    """
    use_compilation_cache(compilation_cache_dir)
    if deterministic:
        use_deterministic_kernels()


def use_compilation_cache(folder: str) -> pathlib.Path | None:
    """Turns JAX's persistent compilation cache on in `folder` (``~`` expanded; ``"auto"``:
    ``xla/`` in `cache_root`), or off for ``""``.

    Returns:
        The cache's folder, or None when it is off: asked off, or `folder` cannot be
        written (a warning says so; training goes on uncached).

    Examples:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> use_compilation_cache(folder) == pathlib.Path(folder)
        True
        >>> use_compilation_cache("") is None
        True
    """
    if not folder:
        _set_cache(None)
        return None
    path = cache_root() / "xla" if folder == "auto" else pathlib.Path(folder).expanduser()
    if _active() == str(path):  # (train_and_evaluate, then its setup: checked once)
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        warnings.warn(f"compilation_cache {folder!r} cannot be written ({exc.strerror or exc}); "
                      f"this run compiles everything afresh (set compilation_cache to a writable folder, "
                      f"or to '' to turn the cache off)", stacklevel=2)
        _set_cache(None)
        return None
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    _set_cache(str(path))
    return path


@contextlib.contextmanager
def compiling_afresh() -> Iterator[None]:
    """Inside, nothing is read from or written to the persistent compilation cache: for
    timing compilations as a run without the cache pays them (`tricks.train.side_by_side`).

    Examples:
        >>> with compiling_afresh():
        ...     jax.config.jax_enable_compilation_cache
        False
    """
    before = _active()
    _set_cache(None)
    try:
        yield
    finally:
        _set_cache(before)


def _set_cache(folder: str | None) -> None:
    """The persistent cache on in `folder`, or off (None). JAX decides once whether it uses
    its cache, at the first compilation after a `reset_cache`; so every change resets it."""
    if folder == _active():
        return
    jax.config.update("jax_enable_compilation_cache", folder is not None)
    if folder is not None:
        compilation_cache.set_cache_dir(folder)
    compilation_cache.reset_cache()


def _active() -> str | None:
    """The persistent cache's folder, or None when it is off."""
    return jax.config.jax_compilation_cache_dir if jax.config.jax_enable_compilation_cache else None


def use_deterministic_kernels() -> bool:
    """Asks XLA for deterministic GPU kernels; returns whether the process has them.

    Adds `DETERMINISTIC_FLAG` to ``XLA_FLAGS`` if the backend has not started. If it has
    started without the flag and runs on a GPU, warns that results may differ from run to
    run in their last bits (set the flag before starting Python, or build the run before
    any other JAX computation).

    Examples:
        >>> use_deterministic_kernels()
        True
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" in flags:
        return "xla_gpu_deterministic_ops=false" not in flags
    if not backend_started():
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_FLAG}".strip()
        return True
    if jax.default_backend() != "gpu":
        return True
    warnings.warn(f"deterministic=True, but the GPU backend started before the run could set {DETERMINISTIC_FLAG}, "
                  f"so results may differ from run to run in their last bits; start Python with "
                  f"XLA_FLAGS={DETERMINISTIC_FLAG} (the tricks command does), or build the run before any other "
                  f"JAX computation", stacklevel=2)
    return False
