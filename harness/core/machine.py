"""The processor a run's numbers came from, and the kernels torch chose for it.

A GAN's training is chaotic: the same seed, config and code land far apart when the float
order changes, and the float order changes with the instruction set the kernels use (torch's
own vectorised kernels, oneDNN's convolutions, MKL's matrix products pick the widest the CPU
has, unless ``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA`` or ``MKL_CBWR`` cap them). So a
record names the CPU, the capability torch dispatches to and the caps in force; a report never
pools runs whose kernels differ (``harness.report.cells.settings_of``).

Capping an AVX-512 CPU at AVX2 was measured not to make it compute as an AVX2 CPU does
(README, "What reproduces where"), so the harness offers no such setting.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(gpu: bool) -> dict:
    """The record's ``machine``: CPU model, torch's CPU capability, the oneDNN and MKL caps in
    force, and the GPU's name where the run used one."""
    import torch

    return {"cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA") or "native",
            "mkl_cbwr": os.environ.get("MKL_CBWR") or "native",
            "gpu": torch.cuda.get_device_name(0) if gpu and torch.cuda.is_available() else None}
