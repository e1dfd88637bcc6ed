"""The benchmark's bare loop is the harness's own training step without Lightning: after k
steps from the same start, both leave bit-identical parameters and buffers."""
import pytest
import torch

from harness.bench import common as bench
from harness.run.fit import build_run

pytestmark = pytest.mark.slow  # real fits of every family


@pytest.mark.parametrize("family", ["gan", "seg", "style"])
def test_bare_loop_and_harness_reach_the_same_parameters(family, tmp_path):
    cfg = bench.compose(family, steps=3, threads=1, accelerator="cpu", log_dir=str(tmp_path))
    start = {k: v.clone() for k, v in build_run(cfg)[0].state_dict().items()}
    harness, data = build_run(cfg)
    bench.fit(cfg, harness, data)
    bare, data = build_run(cfg)
    bare.use_data(data)
    bare.train()
    bench.bare_steps(bare, list(data.train_dataloader()))
    a, b = harness.state_dict(), bare.state_dict()
    assert a.keys() == b.keys() and len(a) > 4
    assert any(not torch.equal(a[k], start[k]) for k in a)  # three steps moved the weights, so the equality below means something
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


def test_the_harness_and_its_bare_twin_take_every_timed_step_in_turn(tmp_path):
    """The bench's pairing at a whole run's settings: checkpoint chunks (epochs) and logging on;
    one bare step after each harness step, both timed after the warm-up."""
    from omegaconf import open_dict

    from harness.bench import interleave

    cfg = bench.compose("seg", steps=10, threads=1, accelerator="cpu", log_dir=str(tmp_path))
    with open_dict(cfg):
        cfg.checkpoint_every = 4  # three epochs: the harness reloads its loader, the twin does not
    got = interleave.harness_and_bare(cfg, bench.fit, warmup=3)
    assert len(got["harness"]) == len(got["bare"]) == 7
    assert all(t > 0 for t in got["harness"] + got["bare"])
