"""``hydra/launcher=slurm`` (``conf/hydra/launcher/slurm.yaml``): Hydra's submitit SLURM
launcher, unchanged but for one check before it submits: on a cluster without job accounting,
submitit's failed-``sacct`` warning is dropped and the sweep says once what it means
(``harness.run.slurm.quiet_sacct``). Hydra only loads launchers from ``hydra_plugins``.
"""
from typing import Any, Sequence

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher


class HarnessSlurmLauncher(SlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        from harness.run.slurm import quiet_sacct

        quiet_sacct()
        return super().launch(job_overrides, initial_job_idx)
