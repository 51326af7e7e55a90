"""Writes the reference pages docs/config.md and docs/api.md from the code.

Run ``python -m tools.docs`` from the repository root after changing a config field, a
public name or a registered component; ``python -m tools.docs --check`` writes nothing and
names the stale pages (exit 1). tests/test_docs.py fails while a page is stale.

docs/config.md: every field of `tricks.train.default_config` with its default, type and
meaning, read from the comments beside each field in tricks/train/_defaults.py
(`tools.docs._config`). docs/api.md: each public package's names with their kind,
signature and docstring summary, then the built-in registered components by kind
(`tools.docs._api`). README.md: only its catalogue block, the names of every built-in
component by kind (`tools.docs._readme`).
"""

from __future__ import annotations

import argparse
import pathlib

from tools.docs._api import api_page
from tools.docs._config import config_page
from tools.docs._readme import with_catalogue
from tools.docs._text import COMMAND

ROOT = pathlib.Path(__file__).resolve().parents[2]
"""The repository root, which the pages' paths are relative to."""


def pages() -> dict[str, str]:
    """Path of each generated page (relative to the repository root) -> the text it should hold.

    Examples:
        >>> sorted(pages())
        ['README.md', 'docs/api.md', 'docs/config.md']
    """
    readme = with_catalogue((ROOT / "README.md").read_text(encoding="utf-8"))
    return {"docs/api.md": api_page(), "docs/config.md": config_page(), "README.md": readme}


def stale(root: pathlib.Path = ROOT) -> list[str]:
    """The pages whose file under `root` is missing or differs from what the code generates now.

    Examples:
        >>> import tempfile
        >>> stale(pathlib.Path(tempfile.mkdtemp()))
        ['docs/api.md', 'docs/config.md', 'README.md']
    """
    return [path for path, text in pages().items()
            if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    """Writes both pages, or with ``--check`` names the stale ones; returns the exit code.

    Examples:
        >>> main(["--check"])
        0
    """
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.partition("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is stale")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"{path} is stale; run `{COMMAND}`")
        return 1 if old else 0
    for path, text in pages().items():
        (ROOT / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0
