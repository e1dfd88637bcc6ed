"""What ``hydra/launcher=slurm`` needs to know beyond Hydra's submitit launcher: the GPUs a job
asks for, and whether the cluster keeps job accounting.

submitit learns a job's state from ``sacct``. On a cluster without accounting
(``AccountingStorageType=accounting_storage/none``, as ``tools/slurm_local.sh`` sets up) every
poll fails: ``sacct`` itself prints ``Slurm accounting storage is disabled`` and submitit's
logger ``submitit`` warns ``Call #N - Bypassing sacct error Command '[...]' returned non-zero
exit status 1., status may be inaccurate.`` (on stderr, on stdout, and through the root logger),
at every poll (intervals doubling from 2 s up to 10 min). There the warning says nothing new, so
it is dropped and the sweep says once what it means instead; on a cluster with accounting a
failing ``sacct`` is news, and its warning stays.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from typing import Any

log = logging.getLogger("harness")
SACCT_WARNING = re.compile(r"Bypassing sacct error .*status may be inaccurate")
NO_ACCOUNTING = ("this SLURM cluster keeps no accounting, so sacct cannot answer submitit's "
                 "polls (the 'Slurm accounting storage is disabled' lines are sacct's own); a "
                 "job that ends without its result (killed, out of memory, its node lost) leaves "
                 "the sweep waiting: Ctrl-C, then the same command")


def trainer_gpus(accelerator: Any, devices: Any) -> int | None:
    """The GPUs per node a job asks for: the trainer's devices when it trains on a GPU, none
    otherwise (``trainer=default`` is the CPU), so a CPU cluster takes the default launcher."""
    if str(accelerator) not in ("gpu", "cuda"):
        return None
    if isinstance(devices, int) and devices > 0:
        return devices
    if hasattr(devices, "__len__") and not isinstance(devices, str):  # a list of device ids
        return len(devices)
    return 1  # "auto" or -1: at least the one the run needs


def accounting_off() -> bool:
    """Whether the cluster this machine submits to keeps no job accounting."""
    if not shutil.which("scontrol"):
        return False
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                             timeout=15).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    found = re.search(r"^AccountingStorageType\s*=\s*(\S+)", out, re.M)
    return bool(found) and found.group(1) == "accounting_storage/none"


class _NoSacctWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not SACCT_WARNING.search(record.getMessage())


def quiet_sacct() -> bool:
    """On a cluster without accounting: drop submitit's failed-``sacct`` warning (that message
    only, on its logger) and say once what it means. True if the cluster has no accounting."""
    if not accounting_off():
        return False
    import submitit  # noqa: F401 - configures its logger; a filter added afterwards stays

    submitit_log = logging.getLogger("submitit")
    if not any(isinstance(f, _NoSacctWarning) for f in submitit_log.filters):
        submitit_log.addFilter(_NoSacctWarning())
        log.info("note: %s", NO_ACCOUNTING)
    return True

