"""Whether members train side by side (one vmapped program) or one after another, measured
once per backend and model and cached.

Side by side wins where a run's fixed costs (building, compiling) dominate or the
device has room to spare; it loses where vmap makes the step itself much slower than
the members' steps one after another. Measured on the 2-core CPU machine (`tricks bench
population`, whole runs): the digits MLP, 8 seeds in 9.9 s side by side against 35.9 s one
by one; MNIST-1D `cnn1d`, 49 s against 82 s; but the Fashion-MNIST CNN (40 steps), 4
seeds in 99 s against 33 s: XLA:CPU runs a convolution vmapped over its weights as a
grouped convolution, far slower than the members' convolutions one by one.

`side_by_side` times one training step of the members vmapped and of one member alone
(each jitted; one step's compilation timed too), and predicts both whole runs: side by
side, one run's fixed costs plus the run's steps at the vmapped step's time; one by one,
each member's fixed costs and steps. A run's fixed costs (building, compiling its calls
and evaluation, checkpoints) are taken as `FIXED_COMPILES` times one step's compilation:
measured on the CPU machine as 5.4 (digits MLP: 4.3 s of a 4.7 s run, one step compiling
in 0.8 s), 8.7 (`cnn1d`: 6.1 s, 0.7 s) and 9 (MNIST-1D MLP: 3.6 s, 0.4 s). The
predictions agree with whole runs on all three models of `tricks bench population`:
`cnn1d`, 8 seeds, predicted 77 s side by side against 94 s one by one (measured 49 s
and 82 s); the Fashion-MNIST CNN, 4 seeds, 4683 s against 783 s. The measurement is cached in ``$TRICKS_CACHE/side_by_side.json``
(default ``~/.cache/tricks``), keyed by backend, device, model, batch and member count.
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import jax
import jax.numpy as jnp

CACHE_ENV = "TRICKS_CACHE"
"""The environment variable naming the folder of the measurement cache."""

TIMED_STEPS = 5
"""Steps timed for each form after the first (which compiles)."""

FIXED_COMPILES = 6
"""A run's fixed costs, in compilations of one step (see the module's docstring)."""


def cache_path() -> pathlib.Path:
    """Where the measurements are kept (``$TRICKS_CACHE/side_by_side.json``).

    Examples:
        >>> cache_path().name
        'side_by_side.json'
    """
    root = os.environ.get(CACHE_ENV) or pathlib.Path.home() / ".cache" / "tricks"
    return pathlib.Path(root) / "side_by_side.json"


def side_by_side(run, members: int) -> tuple[bool, str]:
    """Whether `members` runs of `run`'s model train faster side by side than one after
    another, and why (the figures, and whether they were measured now or cached).

    Args:
        run: a `Setup` of one member (its model, step, state and batch).
        members: how many.
    """
    if members == 1:
        return True, "one member"
    image = run.loader.batch(0)["image"]
    key = json.dumps([jax.default_backend(), jax.devices()[0].device_kind, str(run.config.model),
                      list(image.shape), str(image.dtype), members, str(run.config.augment)])
    path = cache_path()
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):  # unreadable: measured again, and rewritten
        cache = {}
    found = cache.get(key)
    source = "cached"
    if not isinstance(found, dict) or not {"compile_s", "alone_s", "together_s"} <= set(found):
        found, source = measure(run, members), "measured now"
        cache[key] = found
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cache, indent=1) + "\n")
        except OSError:
            pass  # (a read-only home: measured again next time)
    steps, fixed = run.num_steps, FIXED_COMPILES * found["compile_s"]
    together = fixed + steps * found["together_s"]
    apart = members * (fixed + steps * found["alone_s"])
    why = (f"{members} x {steps} steps predicted {together:.0f} s side by side, {apart:.0f} s one by one "
           f"(a step: {1e3 * found['together_s']:.2f} ms for all, {1e3 * found['alone_s']:.2f} ms for one; "
           f"a run's fixed costs {fixed:.1f} s; {source}, {path})")
    return together <= apart, why


def measure(run, members: int) -> dict[str, float]:
    """Seconds: one member's step compiled (``compile_s``), one member's step
    (``alone_s``), and all `members`' steps vmapped (``together_s``)."""
    step, state, batch = run.train_step.step, run.state, run.loader.batch(0)

    def timed(fn, carry, data) -> tuple[float, float]:
        began = time.perf_counter()
        carry, _ = fn(carry, data)
        jax.block_until_ready(carry)
        first = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(TIMED_STEPS):
            carry, _ = fn(carry, data)
        jax.block_until_ready(carry)
        return first, (time.perf_counter() - began) / TIMED_STEPS

    copies = lambda tree: jax.tree.map(lambda x: jnp.stack([x] * members), tree)  # noqa: E731
    fresh = lambda state, batch: step(state, batch)  # noqa: E731  (a function of its own: compiled anew)
    compile_s, alone = timed(jax.jit(fresh, donate_argnums=0), jax.tree.map(jnp.copy, state), batch)
    _, together = timed(jax.jit(jax.vmap(step), donate_argnums=0), copies(state), copies(batch))
    return {"compile_s": compile_s, "alone_s": alone, "together_s": together}
