"""The processor a run's numbers came from, and the kernels torch chose for it.

A GAN's training is chaotic: the same seed, config and code land far apart when the float
order changes, and the float order changes with the instruction set the kernels use (torch's
own vectorised kernels, oneDNN's convolutions, MKL's matrix products pick the widest the CPU
has). So a record names the CPU, the capability torch dispatches to, and the cap the config's
``kernels`` setting put on all three (``restart_with_kernels``); a report never pools runs whose
capability differs (``harness.report.cells.settings_of``).
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

# ``kernels``: the widest instruction set the CPU kernels may use. native: whatever the CPU
# has (fastest; numbers follow the CPU); avx2: torch, oneDNN and MKL capped at AVX2, which every
# x86-64 CPU since 2013-15 has, so an AVX-512 machine computes as an AVX2 one does.
KERNELS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def apply_kernels(name: str) -> None:
    """Set the environment that caps the kernels at ``name``. Each library reads it once, at
    its first use in the process: call this before the first tensor operation. A process whose
    kernels were already chosen keeps them; ``kernel_problem`` then says so."""
    for key, value in KERNELS.get(name, {}).items():  # an unknown name: settings says so
        os.environ[key] = value


def restart_with_kernels(name: str) -> None:
    """Start this command again with the environment of ``kernels=name``, where it lacks it:
    an import may already have run a tensor operation (a module-level constant), fixing torch's
    choice, so the cap is set before the process starts. Its jobs (joblib workers, SLURM
    jobs) inherit it. Nothing is held or written yet when this is called."""
    import sys

    wanted = KERNELS.get(name, {})
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    os.environ.update(wanted)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def kernel_problem(name: str) -> str | None:
    """Why this process cannot honour ``kernels=name``, or None: it started without the cap
    (``restart_with_kernels`` sets it for the command's own value, so a sweep over
    ``kernels`` meets this), or torch chose wider kernels anyway."""
    wanted = KERNELS.get(name, {})
    want = wanted.get("ATEN_CPU_CAPABILITY")
    if any(os.environ.get(k) != v for k, v in wanted.items()) or (
            want and capability().lower() not in (want, "default")):
        return (f"kernels={name} caps the CPU kernels before the process starts, and this one "
                f"started without it (its kernels: {capability()}): give one kernels value per "
                "command, not a sweep over it")
    return None


def capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


def machine(gpu: bool) -> dict:
    """The record's ``machine``: CPU model, torch's CPU capability, the oneDNN and MKL caps in
    force, and the GPU's name where the run used one."""
    import torch

    return {"cpu": cpu_model(), "cpu_capability": capability(),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA") or "native",
            "mkl_cbwr": os.environ.get("MKL_CBWR") or "native",
            "gpu": torch.cuda.get_device_name(0) if gpu and torch.cuda.is_available() else None}
