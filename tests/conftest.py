"""Fixtures; shared helpers are in ``tests/helpers``."""
import os

import pytest

# `make test` runs two xdist workers side by side: each gets its share of the cores, or every
# run in both (in process and in the subprocesses they start, which inherit this) computes with
# all the cores and a step takes about three times as long (harness.run.fit.available_cores).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
if _WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _WORKERS))

from helpers import make_cfg


@pytest.fixture
def cfg_factory(tmp_path):
    return lambda *o: make_cfg(tmp_path, *o)
