"""A data dir shared by the engine tests, so each dataset is prepared once per session."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def shared_data_dir(tmp_path_factory):
    import os

    previous = os.environ.get("TFDS_DATA_DIR")
    if previous is None:
        os.environ["TFDS_DATA_DIR"] = str(tmp_path_factory.mktemp("tfds"))
    yield os.environ["TFDS_DATA_DIR"]
    if previous is None:
        os.environ.pop("TFDS_DATA_DIR", None)
