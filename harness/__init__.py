"""Experiment harness: pixel scalings x output heads x model families."""
from omegaconf import OmegaConf

from .record import with_study_keys

# conf/hydra/default.yaml reads it; registered here, so composing the config from any entry
# point (the command line, the sweeper's workers, the tests' compose) finds it
OmegaConf.register_new_resolver("harness_with_study_keys", with_study_keys, replace=True)

from .tuned import tuned as read_tuned  # noqa: E402 - the module keeps its name

# a study reads a searched setting back: ${tuned:<file>,<key>,<param>} (harness/tuned.py)
OmegaConf.register_new_resolver("tuned", read_tuned, replace=True)

from .slurm import trainer_gpus  # noqa: E402

# conf/hydra/launcher/slurm.yaml: a job asks for the GPUs its trainer uses, none on the CPU
OmegaConf.register_new_resolver("harness_trainer_gpus", trainer_gpus, replace=True)
