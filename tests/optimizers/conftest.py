"""Fixtures shared by the optimizer tests."""

import jax
import pytest


@pytest.fixture
def x64():
    """Enables float64 for one test and restores the previous setting afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
