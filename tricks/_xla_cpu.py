"""XLA:CPU's own convolution kernels instead of YNNPACK's, asked for when `tricks` is imported.

jaxlib 0.10.2's XLA:CPU hands dot products, reductions and convolutions to the YNNPACK
library (its default ``--xla_cpu_experimental_ynn_fusion_type`` is ``individual_dot``,
``individual_convolution`` and ``reduce``). For 2-D convolutions that is several times
slower than XLA's own (Eigen) kernels, on the project's 2-core AMD EPYC machine with AVX2
(session 24; jax 0.10.2, float32):

* one 3x3 convolution, 256x14x14x32 to 64 channels (1.85 GFLOP each way): forward 25.3 ms
  with YNNPACK against 16.3 ms without, input gradient 37.5 against 18.7, weight gradient
  (a convolution whose window is the whole 14x14 image) **163.9 against 21.4** (11 against
  86 GFLOP/s);
* a training step (AdamW), the medians of 7 interleaved rounds in one process, the step
  compiled both ways (`jax.jit`'s ``compiler_options``), time without YNNPACK's
  convolutions over time with them: the default ``cnn`` 0.60x at batch 128 (126 ms
  against 77, the best samples) and 0.41x at 1024 (1428 ms against 518), ResNet-20 at
  batch 128 0.49x (1062 ms against 549). The MLPs (batch 100 to 1024) and ``cnn1d``
  (1-D convolutions) moved within the machine's noise (0.97x-1.05x) whether YNNPACK kept
  or lost its dot products, reductions or convolutions.

So `use_xla_convolutions` takes convolutions out of YNNPACK's share and leaves the rest
as jaxlib has it: it adds `FLAG` (XLA's syntax for removing one value from a repeated
flag's default) to ``XLA_FLAGS``. XLA reads ``XLA_FLAGS`` once, when JAX starts its
backends, so this happens at import, and only:

* when the user's ``XLA_FLAGS`` does not name ``xla_cpu_experimental_ynn_fusion_type``
  already (their choice stands; ``--xla_cpu_experimental_ynn_fusion_type=`` turns
  YNNPACK off, ``=+individual_convolution`` keeps its convolutions);
* when no JAX backend has started yet (then it is too late, and the program keeps
  jaxlib's default; import `tricks` before the first JAX computation);
* with a jaxlib that has the flag (`KNOWN_JAXLIB`: 0.10.2, 0.11.2 and 0.12.0 were
  checked), since XLA aborts the process on a flag it does not know.

On machines with AVX-512 this was not measured: that the weight gradient's
whole-image window is YNNPACK's slow case suggests it holds there too, and the flag changes
only CPU programs, none of a GPU's or TPU's.
"""

from __future__ import annotations

import os

FLAG_NAME = "xla_cpu_experimental_ynn_fusion_type"
FLAG = f"--{FLAG_NAME}=-individual_convolution"
KNOWN_JAXLIB = ((0, 10, 2), (0, 13, 0))
"""jaxlib versions [first, last) that know `FLAG_NAME` (0.10.2, 0.11.2, 0.12.0 checked)."""


def use_xla_convolutions() -> bool:
    """Adds `FLAG` to ``XLA_FLAGS`` if nothing stands in the way (see the module); returns whether it did.

    Examples:
        >>> FLAG
        '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'
        >>> use_xla_convolutions()   # done when tricks was imported (or the user chose, or it was too late)
        False
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG_NAME in flags or backend_started() or not _knows_flag():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return True


def backend_started() -> bool:
    """Whether JAX has started its backends (after which ``XLA_FLAGS`` is not read again).

    JAX has no public question for this; its private one is used where present, and
    otherwise the backend is taken as started (the cautious answer).

    Examples:
        >>> import jax
        >>> _ = jax.devices()
        >>> backend_started()
        True
    """
    try:
        from jax._src import xla_bridge
        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
        return True


def _knows_flag() -> bool:
    """Whether the installed jaxlib is in `KNOWN_JAXLIB`."""
    try:
        import jaxlib.version
        version = tuple(int(part) for part in jaxlib.version.__version__.split(".")[:3])
    except (ImportError, ValueError):
        return False
    first, last = KNOWN_JAXLIB
    return first <= version < last
