"""Fixtures; shared helpers are in ``tests/helpers``."""
import pytest

from helpers import make_cfg


@pytest.fixture
def cfg_factory(tmp_path):
    return lambda *o: make_cfg(tmp_path, *o)
