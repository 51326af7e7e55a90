"""docs/config.md, docs/api.md and README's catalogue are what `python -m tools.docs` generates from the code now."""

import itertools
import re

import pytest

from tools import docs
from tools.docs import _config, _readme


@pytest.fixture(scope="module")
def pages():
    return docs.pages()


@pytest.mark.parametrize("path", ["docs/config.md", "docs/api.md", "README.md"])
def test_page_is_current(pages, path):
    file = docs.ROOT / path
    committed = file.read_text(encoding="utf-8").splitlines() if file.is_file() else []
    current = pages[path].splitlines()
    if committed != current:
        pairs = itertools.zip_longest(committed, current, fillvalue="(nothing)")
        line, (old, new) = next((i, p) for i, p in enumerate(pairs, 1) if p[0] != p[1])
        pytest.fail(f"{path} is stale: run `{docs.COMMAND}` and commit the result "
                    f"(line {line} holds {old[:120]!r}, the code now gives {new[:120]!r})", pytrace=False)
    assert file.read_text(encoding="utf-8") == pages[path], f"{path}: line endings; run `{docs.COMMAND}`"


def test_pages_hold_nothing_of_this_machine_or_run(pages):
    for path, text in pages.items():
        assert not re.search(r"0x[0-9a-fA-F]{6,}", text), f"{path} holds a memory address"
        assert str(docs.ROOT) not in text and "site-packages" not in text, f"{path} holds a local path"


def test_every_config_field_has_a_meaning():
    missing = _config.undocumented()
    assert not missing, f"add a comment beside each of {missing} in {_config.DEFAULTS}"


def test_each_fallback_meaning_is_still_needed():
    """A field that has gained a comment in _defaults.py loses its entry in `UNCOMMENTED`."""
    commented = {name for name, text in _config.source_fields().items() if text}
    fields = {f.name for f in _config.config_fields()}
    assert not set(_config.UNCOMMENTED) & commented, (
        f"remove {sorted(set(_config.UNCOMMENTED) & commented)} from UNCOMMENTED in tools/docs/_config.py")
    gone = sorted(set(_config.UNCOMMENTED) - fields)
    assert not gone, f"UNCOMMENTED in tools/docs/_config.py names fields that no longer exist: {gone}"


def test_readme_catalogue_names_every_built_in_component(pages):
    import registry
    from tools.docs._api import components

    block = pages["README.md"].partition(_readme.START)[2].partition(_readme.END)[0]
    for kind, rows in components().items():
        assert set(registry.names(kind)) >= {name for name, *_ in rows}
        line = next(text for text in block.splitlines() if text.startswith(f"- **{kind}**"))
        assert all(f"`{name}`" in line for name, *_ in rows), kind


def test_readme_without_the_catalogue_markers_is_an_error():
    with pytest.raises(ValueError, match="must hold the lines"):
        _readme.with_catalogue("# a README without its markers\n")
