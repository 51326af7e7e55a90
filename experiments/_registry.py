"""The experiments' registry: each claim is a function registered by `experiment`.

`tricks experiments list` and `run` find them here; the tests run every registered
experiment in its smoke mode, so a new one cannot skip them. Registering a name twice
raises (an experiment module imported under two names would otherwise shadow one).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
from collections.abc import Callable

VERDICTS = ("reproduced", "not reproduced", "mixed", "not visible here")
"""What an experiment may conclude of its claim."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    Attributes:
        name: its name (``tricks experiments run NAME``).
        claim: the claim in one line.
        source: where the claim comes from, with its published figure.
        run: ``run(options) -> Result`` (`experiments.Options`, `experiments.Result`).
        module: the module that defines it.
    """

    name: str
    claim: str
    source: str
    run: Callable
    module: str


_EXPERIMENTS: dict[str, Experiment] = {}


def experiment(name: str, *, claim: str, source: str) -> Callable[[Callable], Callable]:
    """Registers the decorated ``run(options) -> Result`` as the experiment `name`.

    Examples:
        >>> @experiment("example", claim="1 + 1 = 2", source="arithmetic")
        ... def run(options):
        ...     ...
        >>> find("example").claim
        '1 + 1 = 2'
        >>> _ = _EXPERIMENTS.pop("example")
    """

    def register(run: Callable) -> Callable:
        if name in _EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered twice: {_EXPERIMENTS[name].module} and "
                             f"{run.__module__}")
        _EXPERIMENTS[name] = Experiment(name, claim, source, run, run.__module__)
        return run

    return register


def experiments() -> dict[str, Experiment]:
    """Every experiment, by name, sorted (their modules imported: `experiments/*.py`).

    Examples:
        >>> "warmup" in experiments()
        True
    """
    import experiments as package

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"experiments.{info.name}")
    return dict(sorted(_EXPERIMENTS.items()))


def find(name: str) -> Experiment:
    """The experiment `name`.

    Raises:
        KeyError: no experiment has that name (the message suggests the closest).
    """
    known = _EXPERIMENTS if name in _EXPERIMENTS else experiments()
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"no experiment named {name!r}{hint}; known: {', '.join(known)}")
    return known[name]
