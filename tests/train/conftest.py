"""A data dir shared by the engine tests, so each dataset is prepared once per session; members
trained side by side in the form the test says."""

import pytest

from tricks.train import _population


@pytest.fixture(scope="session", autouse=True)
def _data_dir(shared_data_dir):
    return shared_data_dir


@pytest.fixture
def vmapped(monkeypatch):
    """The members vmapped whatever `side_by_side` would measure: under a loaded CPU (another
    test worker) its timings chose one run after another, in tests of something else."""
    monkeypatch.setattr(_population, "side_by_side", lambda run, members: ("vmap", "as the test says"))
