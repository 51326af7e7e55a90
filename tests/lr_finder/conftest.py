"""Shared fixtures of the LR finder tests: a prepared digits dataset in a temporary folder."""

import pytest

import registry
import tricks  # noqa: F401  (registers the components)


@pytest.fixture(scope="session")
def digits_spec(tmp_path_factory) -> str:
    """A digits spec whose data lives in a temporary TFDS folder (prepared once)."""
    spec = f"digits(data_dir={str(tmp_path_factory.mktemp('tfds'))!r})"
    registry.build("dataset", spec)
    return spec
