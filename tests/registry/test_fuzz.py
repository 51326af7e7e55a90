"""Generated malformed specs: every one raises RegistryError, and none runs any code."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import RegistryError
from tests.registry.conftest import make_registry

REG = make_registry()
SENTINEL = "TRICKS_FUZZ_EXECUTED"
PAYLOADS = [
    f"__import__('os').environ.__setitem__('{SENTINEL}', '1')",
    f"exec(\"import os; os.environ['{SENTINEL}'] = '1'\")",
    "open('/tmp/tricks_fuzz_pwned', 'w')",
    "os.system('true')",
]
# Each fragment is illegal wherever it stands as an argument value.
POISON = st.sampled_from(
    [
        *PAYLOADS,
        "x.y", "a[0]", "lambda: 1", "[i for i in y]", "{i: i for i in y}", "(i for i in y)", "f'{x}'",
        "1 + 2", "not True", "1 if x else 2", "(y := 3)", "{1, 2}", "b'x'", "1j", "...", "-'a'",
        "cosine(init_value=0.1)", "cosine(0.1, 'ten')", "constant()", "constant(1, 2)", "nosuchname(1)",
        "adam(learning_rate=0.1)", "warmup(constant(1.0), 3, mode='cubic')",
    ]
)
NAMES = st.sampled_from(["sgd", "adamw", "adam"])
VALUES = st.one_of(
    st.integers(-5, 5), st.floats(0.001, 1.0), st.sampled_from(["'cos'", "True", "None", "[1, 2]", "constant(0.5)"])
)


@st.composite
def malformed_call_strings(draw) -> str:
    """An optimizer call whose argument list holds one illegal value at a random place and depth."""
    name = draw(NAMES)
    poison = draw(POISON)
    depth = draw(st.integers(0, 3))
    for _ in range(depth):
        poison = draw(st.sampled_from(["[{}]", "({},)", "{{'k': {}}}", "warmup({}, 2)", "join([{}], [1])"])).format(
            poison
        )
    args = [f"{k}={v}" for k, v in draw(st.dictionaries(st.sampled_from(["b1", "weight_decay"]), VALUES, max_size=2)).items()]
    args.insert(draw(st.integers(0, len(args))), f"learning_rate={poison}")
    return f"{name}({', '.join(args)})"


@st.composite
def malformed_texts(draw) -> str:
    """Text mangled so it cannot be a spec: a stray operator, bracket or quote somewhere."""
    base = draw(st.sampled_from(["sgd(learning_rate=0.1)", "adamw(b1=0.9)", "adam", "warmup(constant(1.0), 3)"]))
    junk = draw(st.sampled_from(["(", ")", "'", '"', ".", "*", "**", "=", ",,", ":", ";", "\x00", "@", "[", "{"]))
    at = draw(st.integers(0, len(base)))
    return base[:at] + junk + base[at:] + draw(st.sampled_from(["", "."]))


@st.composite
def malformed_mappings(draw) -> dict:
    """A spec mapping with a missing/odd name, an unknown or mistyped argument, or a poisoned value."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(st.dictionaries(st.text(max_size=5).filter(lambda k: k != "name"), VALUES, max_size=3))
    if choice == 1:
        return {"name": draw(st.one_of(st.integers(), st.none(), st.text().filter(lambda t: not t.isidentifier())))}
    if choice == 2:
        return {"name": draw(NAMES), draw(st.text(min_size=1, max_size=8).filter(
            lambda k: k not in {"name", "learning_rate", "momentum", "nesterov", "b1", "weight_decay"})): 1}
    if choice == 3:
        return {"name": "sgd", "learning_rate": draw(POISON)}
    return {"name": "sgd", "learning_rate": 0.1, "nesterov": draw(st.one_of(st.integers(), st.text(), st.floats()))}


def _check(spec) -> None:
    try:
        REG.build("optimizer", spec)
    except RegistryError:
        pass
    else:
        raise AssertionError(f"accepted a malformed spec: {spec!r}")
    assert SENTINEL not in os.environ
    assert not os.path.exists("/tmp/tricks_fuzz_pwned")


FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(malformed_call_strings())
def test_malformed_call_strings(spec):
    _check(spec)


@FUZZ
@given(malformed_texts())
def test_mangled_texts(spec):
    _check(spec)


@FUZZ
@given(malformed_mappings())
def test_malformed_mappings(spec):
    _check(spec)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), st.integers(), st.lists(st.text())))
def test_arbitrary_input_never_escapes_as_another_exception(spec):
    try:
        REG.build("optimizer", spec)
    except RegistryError:
        pass
    assert SENTINEL not in os.environ
