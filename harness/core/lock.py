"""One live process per run directory: a lock file holding the owner's PID and host.

Two sweeps over one study would otherwise both do all the work, and the second could resume from
the first's live checkpoint. A lock whose process is gone (same host, PID not running) is stale
and taken over; a lock from another host is trusted, since its PID cannot be checked from here.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

LOCK = ".lock"


def _owner(path: Path) -> tuple[int, str] | None:
    try:
        pid, host = path.read_text().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def alive(pid: int, host: str | None = None) -> bool:
    """Whether process ``pid`` runs (on ``host``; None: this one). Another host's: assumed so."""
    if host not in (None, socket.gethostname()):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _young(path: Path, seconds: float = 10.0) -> bool:
    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


def holder(run_dir: Path) -> int | None:
    """The PID of a live process that holds ``run_dir``, other than this one; else None."""
    owner = _owner(Path(run_dir) / LOCK)
    if owner and owner[0] != os.getpid() and alive(*owner):
        return owner[0]
    return None


def acquire(run_dir: Path) -> tuple[bool, str]:
    """(True, note) when this process now holds ``run_dir`` (note: a stale lock taken over),
    (False, why) when a live process holds it."""
    path = Path(run_dir) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    note = ""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            owner = _owner(path)
            if owner == (os.getpid(), socket.gethostname()):  # taken earlier by this command
                return True, ""
            if owner and owner[0] != os.getpid() and alive(*owner):
                return False, f"in use by PID {owner[0]} on {owner[1]}"
            if owner is None and _young(path):  # created, its PID not written yet
                return False, "being taken by another process"
            note = f"took over a stale lock of PID {owner[0] if owner else '?'}"
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        return True, note
    return False, "could not take the lock"


def release(run_dir: Path) -> None:
    path = Path(run_dir) / LOCK
    owner = _owner(path)
    if owner and owner[0] == os.getpid():
        path.unlink(missing_ok=True)
