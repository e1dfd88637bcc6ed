"""The harness's sweeper; Hydra registers plugins only from modules under ``hydra_plugins``."""
