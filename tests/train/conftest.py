"""A data dir shared by the engine tests, so each dataset is prepared once per session."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _data_dir(shared_data_dir):
    return shared_data_dir
