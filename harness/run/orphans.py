"""A parallel sweep's worker stops when the sweep that started it is gone.

joblib's workers outlive a parent killed with ``kill -9``: each finishes its run, then sits idle
holding its memory (about 1.3 GB) for minutes. A worker watches its parent instead, and when
the sweep is gone it interrupts its run (which records ``interrupted`` and keeps its checkpoint:
the sweep's command resumes it) and exits.
"""
from __future__ import annotations

import _thread
import logging
import os
import signal
import threading
import time

log = logging.getLogger("harness")
SWEEP_PID = "HARNESS_SWEEP_PID"  # set by the sweeper before it launches any job
GRACE_S = 60.0  # for the interrupted run to write its record, then the worker exits anyway
_watching = False
_orphaned = threading.Event()


def watch_parent(every_s: float = 1.0) -> None:
    """In a job that is a direct child of its sweep (joblib, submitit's local jobs): a
    daemon thread that stops this process once the sweep is gone. Elsewhere (the sweep's own
    process, a single run, a SLURM job) nothing. Called from the job's main thread."""
    global _watching
    sweep = os.environ.get(SWEEP_PID)
    if _watching or not sweep or os.getpid() == int(sweep) or os.getppid() != int(sweep) \
            or threading.current_thread() is not threading.main_thread():
        return
    _watching = True
    # a sweep started in the background (`nohup ... &`) passes its jobs SIGINT ignored, and
    # an ignored signal cannot interrupt the run: the job takes Python's own handler back
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=_watch, args=(int(sweep), every_s), daemon=True).start()


def _watch(sweep: int, every_s: float) -> None:
    while os.getppid() == sweep:  # a process whose parent dies is given another one
        time.sleep(every_s)
    log.warning("the sweep that started this job (PID %d) is gone: stopping its run (the "
                "sweep's command resumes it)", sweep)
    _orphaned.set()
    _thread.interrupt_main()  # the run records `interrupted`, with its checkpoint
    time.sleep(GRACE_S)  # a main thread that never gets back to Python: exit anyway
    os._exit(1)


def exit_if_orphaned() -> None:
    """Once the job's run has its record: exit where the sweep is gone (joblib would keep the
    worker waiting for the next job that never comes)."""
    if _orphaned.is_set():
        logging.shutdown()
        os._exit(1)
