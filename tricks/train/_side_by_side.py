"""How members train fastest: side by side in one program, and in which form, or one after
another; measured once per backend, model and member count, and cached.

Side by side wins where a run's fixed costs (building, compiling) dominate or the device
has room to spare; vmapped, it loses where vmap makes the step itself much slower than
the members' steps one after another: XLA:CPU runs a convolution vmapped over its
weights as a grouped convolution, far slower than the members' convolutions one by one.
The members' steps can then still share one program, mapped one after another
(`tricks.train._members`, ``map``), their convolutions laid out for XLA:CPU
(`tricks.train.canonical_convolutions`): a step of 4 members of the Fashion-MNIST CNN
takes 198-220 ms that way on the 2-core AVX2 machine, against 4 x 70 ms one by one
(session 25).
Until session 25 the members' programs were written out one after another instead
(``unrolled``), which the figures below, from before, measured.

`side_by_side` times one training step of one member alone, of the members vmapped and,
unless that beat the members one after another, mapped (`jax.lax.map`), each jitted with
its compilation, and predicts the whole runs: in one program, `FIXED_COMPILES` times its
step's compilation plus the run's steps at its step's time; one by one, each member's
fixed costs and steps. Vmapped is taken unless another way is predicted faster by
`MARGIN`. A run's fixed costs (building, compiling its calls and evaluation, checkpoints) were measured on the
CPU machine as 5.4 compilations of one step (digits MLP: 4.3 s of a 4.7 s run, one step
compiling in 0.8 s), 8.7 (`cnn1d`: 6.1 s, 0.7 s) and 9 (MNIST-1D MLP: 3.6 s, 0.4 s). The
predictions order the forms as whole runs do on the models of `tricks bench population`,
though not their size: the Fashion-MNIST CNN, 4 seeds, 40 steps, was predicted at 33 s
unrolled, 44 s one by one and 97 s vmapped (measured 30 s of training unrolled, 30 s one
by one). The measurement is cached in ``$TRICKS_CACHE/side_by_side.json`` (default
``~/.cache/tricks``), keyed by backend, device, device count, model, batch and member
count, JAX's version and ``XLA_FLAGS`` (which choose kernels: `tricks._xla_cpu`) and
`METHOD`; not by the optimizer or the augmentation, which move a step's time less than
the forms differ: the augmentation experiment's CNN (16-32, batch 128, 3 members)
measured once per augmentation took 19-25 ms a step alone, 76-90 ms unrolled and 214-281
ms vmapped across its 12 augmentations, and each measurement cost 6-11 s of compiling
and timing, 20-40% of a 10-epoch group's 28 s (3 seeds, 156 steps).
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import jax
import jax.numpy as jnp

from tricks.train._convolutions import canonical_convolutions
from tricks.train._members import over_members
from tricks.train._runtime import cache_root, compiling_afresh

TIMED_SECONDS = 0.3
"""About how long each form's steps are timed after the first (which compiles), in at
least two steps: a step of a few milliseconds timed 5 times moved by tens of percent."""

MARGIN = 0.8
"""How much faster than vmapped another way must be predicted to be taken: the
predictions leave out how the training calls group steps, and on MNIST-1D `cnn1d`
(8 seeds) predicted the unrolled form 10% faster where whole runs took 65 s unrolled
against 49-57 s vmapped."""

FIXED_COMPILES = 6
"""A run's fixed costs, in compilations of one step (see the module's docstring)."""

METHOD = 3
"""How the forms are measured, part of the cache's key (2: since session 25, the mapped
form's convolutions laid out, and no ``unrolled`` form; 3: since session 28, threefry
written out on CPUs, `tricks._threefry_cpu`, which made dropout's masks 1.7x faster;
entries measured before are measured again)."""


def cache_path() -> pathlib.Path:
    """Where the measurements are kept (``$TRICKS_CACHE/side_by_side.json``).

    Examples:
        >>> cache_path().name
        'side_by_side.json'
    """
    return cache_root() / "side_by_side.json"


def side_by_side(run, members: int) -> tuple[str | None, str]:
    """How `members` runs of `run`'s model train fastest: side by side in one program, in
    which form (`tricks.train._members.FORMS`), or one after another (None); and why (the
    figures, and whether they were measured now or cached).

    Args:
        run: a `Setup` of one member (its model, step, state and batch).
        members: how many.

    Examples:
        >>> from tricks import train
        >>> side_by_side(train.setup(train.default_config()), 1)
        ('vmap', 'one member')
    """
    if members == 1:
        return "vmap", "one member"
    image = run.loader.batch(0)["image"]
    key = json.dumps([jax.default_backend(), jax.devices()[0].device_kind, jax.device_count(),
                      str(run.config.model), list(image.shape), str(image.dtype), members,
                      jax.__version__, os.environ.get("XLA_FLAGS", ""), METHOD])
    path = cache_path()
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):  # unreadable: measured again, and rewritten
        cache = {}
    found = cache.get(key)
    source = "cached"
    if not isinstance(found, dict) or not set(MEASURED) <= set(found):
        found, source = measure(run, members), "measured now"
        cache[key] = found
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cache, indent=1) + "\n")
        except OSError:
            pass  # (a read-only home: measured again next time)
    steps, fixed = run.num_steps, FIXED_COMPILES * found["compile_s"]
    mapped = found["mapped_form"]
    predicted = {"vmap": FIXED_COMPILES * found["together_compile_s"] + steps * found["together_s"]}
    if mapped is not None:
        predicted[mapped] = FIXED_COMPILES * found["mapped_compile_s"] + steps * found["mapped_s"]
    predicted[None] = members * (fixed + steps * found["alone_s"])
    best = min(predicted, key=lambda form: predicted[form] / (1 if form == "vmap" else MARGIN))
    step_ms = {"vmapped": found["together_s"], mapped: found["mapped_s"], "for one": found["alone_s"]}
    why = (f"{members} x {steps} steps predicted " + ", ".join(
        f"{seconds:.0f} s {form or 'one by one'}" for form, seconds in predicted.items()) +
        " (a step: " + ", ".join(f"{1e3 * s:.2f} ms {form}" for form, s in step_ms.items() if form) +
        f"; one run's fixed costs {fixed:.1f} s; {source}, {path})")
    return best, why


MEASURED = ("compile_s", "alone_s", "together_compile_s", "together_s", "mapped_form", "mapped_compile_s", "mapped_s")
"""What `measure` finds (a cached entry without all of it is measured again)."""


def measure(run, members: int) -> dict[str, float | str]:
    """Seconds: one member's step compiled (``compile_s``) and run (``alone_s``); all
    `members`' steps vmapped (``together_s``, compiled in ``together_compile_s``); and
    mapped one after another in one program (``mapped_s``, compiled in
    ``mapped_compile_s``), by `jax.lax.map` (``mapped_form``), the step's convolutions
    laid out as the training calls lay them out (`canonical_convolutions`). The mapped
    form is not tried (None) where the vmapped step beats `members` steps of one member:
    mapped, the members' steps come out near one member's times `members`, less the calls'
    dispatch (8 members of the digits MLP: 9.4 ms mapped, 10.9 ms vmapped, 8 x 1.6 ms
    alone), never `MARGIN` faster than vmapped there."""
    step, state, batch = run.train_step.step, run.state, run.loader.batch(0)

    def timed(fn, carry, data) -> tuple[float, float]:
        began = time.perf_counter()
        carry, _ = fn(carry, data)
        jax.block_until_ready(carry)
        first = time.perf_counter() - began
        began, steps = time.perf_counter(), 0
        while steps < 2 or time.perf_counter() - began < TIMED_SECONDS:
            carry, _ = fn(carry, data)
            jax.block_until_ready(carry)
            steps += 1
        return first, (time.perf_counter() - began) / steps

    copies = lambda tree: jax.tree.map(lambda x: jnp.stack([x] * members), tree)  # noqa: E731
    fresh = lambda state, batch: step(state, batch)  # noqa: E731  (a function of its own: compiled anew)
    with compiling_afresh():  # compilations timed as a run pays them without the persistent cache
        compile_s, alone = timed(jax.jit(fresh, donate_argnums=0), jax.tree.map(jnp.copy, state), batch)
        together_compile_s, together = timed(jax.jit(jax.vmap(step), donate_argnums=0), copies(state), copies(batch))
        found = {"compile_s": compile_s, "alone_s": alone, "together_compile_s": together_compile_s,
                 "together_s": together, "mapped_form": None, "mapped_compile_s": None, "mapped_s": None}
        if together <= members * alone:  # (mapped would not beat vmapped by the margin)
            return found
        form = "map"
        mapped = jax.jit(over_members(canonical_convolutions(step), members, (0, 0), 0, form), donate_argnums=0)
        mapped_compile_s, mapped_s = timed(mapped, copies(state), copies(batch))
    return found | {"mapped_form": form, "mapped_compile_s": mapped_compile_s, "mapped_s": mapped_s}
