"""Fixtures shared across the test folders: float64 on demand, and one TFDS data dir per session."""

import os

import jax
import pytest


@pytest.fixture
def x64():
    """Enables float64 (and int64) for one test and restores the previous setting afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory):
    """``$TFDS_DATA_DIR`` for the session (a temporary folder unless the caller set one), so each
    dataset is prepared once; folders whose tests need it request it from an autouse fixture."""
    previous = os.environ.get("TFDS_DATA_DIR")
    if previous is None:
        os.environ["TFDS_DATA_DIR"] = str(tmp_path_factory.mktemp("tfds"))
    yield os.environ["TFDS_DATA_DIR"]
    if previous is None:
        os.environ.pop("TFDS_DATA_DIR", None)
