"""The schedule tests' reference values (float64 on demand: `x64` in tests/conftest.py)."""

import json
import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "schedules.json"


def load_fixtures() -> dict:
    """The values written by tools/fixtures/make_schedule_fixtures.py."""
    return json.loads(FIXTURES.read_text())
