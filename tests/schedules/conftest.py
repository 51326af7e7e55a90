"""Fixtures for the schedule tests: float64 on demand, and the reference values."""

import json
import pathlib

import jax
import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "schedules.json"


@pytest.fixture
def x64():
    """Enables float64/int64 for one test and restores the previous setting afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def load_fixtures() -> dict:
    """The values written by tools/fixtures/make_schedule_fixtures.py."""
    return json.loads(FIXTURES.read_text())
