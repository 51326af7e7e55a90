"""A fresh registry per test, filled with a few small components."""

from collections.abc import Callable, Sequence
from typing import Annotated, Literal

import pytest

import registry

Rate = Annotated[float | Callable, registry.Kind("schedule")]


def make_registry() -> registry.Registry:
    reg = registry.Registry()

    @reg.register("schedule")
    def constant(value: float) -> Callable:
        """The same value at every step."""
        return lambda step: value

    @reg.register("schedule")
    def cosine(init_value: float, decay_steps: int, alpha: float = 0.0) -> Callable:
        """Cosine decay."""
        if decay_steps <= 0:
            raise registry.RegistryError(f"must be > 0, got {decay_steps}", argument="decay_steps")
        return lambda step: ("cosine", init_value, decay_steps, alpha, step)

    @reg.register("schedule")
    def warmup(schedule: Rate, warmup_steps: int, mode: Literal["linear", "constant"] = "linear") -> Callable:
        """Warm up any schedule."""
        return lambda step: ("warmup", schedule(step) if callable(schedule) else schedule, warmup_steps, mode)

    @reg.register("schedule")
    def join(schedules: Annotated[Sequence[Rate], registry.Kind("schedule")], boundaries: list[int]) -> tuple:
        """Schedules one after another."""
        return ("join", tuple(schedules), tuple(boundaries))

    @reg.register("optimizer")
    def sgd(learning_rate: Rate, momentum: Rate | None = None, nesterov: bool = False) -> dict:
        """Stochastic gradient descent."""
        return {"name": "sgd", "learning_rate": learning_rate, "momentum": momentum, "nesterov": nesterov}

    @reg.register("optimizer")
    def adamw(learning_rate: Rate = 1e-3, b1: float = 0.9, weight_decay: float = 1e-4) -> dict:
        """Adam with decoupled weight decay."""
        if not 0 <= b1 < 1:
            raise registry.RegistryError(f"must be in [0, 1), got {b1}", argument="b1")
        return {"name": "adamw", "learning_rate": learning_rate, "b1": b1, "weight_decay": weight_decay}

    @reg.register("optimizer")
    def adam(learning_rate: Rate = 1e-3) -> dict:
        """Adam."""
        return {"name": "adam", "learning_rate": learning_rate}

    return reg


@pytest.fixture
def reg() -> registry.Registry:
    return make_registry()


@pytest.fixture(autouse=True)
def default_registry_untouched():
    """Registry tests work on their own instances: the shared default must not change."""
    before = {kind: dict(entries) for kind, entries in registry.default._entries.items()}
    yield
    after = {kind: dict(entries) for kind, entries in registry.default._entries.items()}
    assert after == before, "a registry test changed registry.default"
