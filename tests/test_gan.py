"""The GAN family trained for real, a few steps at a time."""
import json

import pytest
import torch

from harness.models import article_dcgan, dcgan
from helpers import make_cfg, tb_tags
from harness.run.runs import run


@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3)])
def test_dcgan_shapes(size, channels):
    G = dcgan.Generator(channels, size, z_dim=100, width=8)
    D = dcgan.Discriminator(channels, size, width=8)
    x = G(G.sample_z(4))
    assert x.shape == (4, channels, size, size) and D(x).shape == (4,)


def test_article_dcgan_matches_the_article():
    G = article_dcgan.Generator(channels=3, image_size=48, z_dim=100, width=1.0)
    D = article_dcgan.Discriminator(channels=3, image_size=48, width=1.0, norm="batch")
    z = G.sample_z(1000)
    assert float(z.min()) >= -1 and float(z.max()) <= 1 and float(z.min()) < -0.99  # U(-1, 1)
    assert G.fc.out_features == 3 * 3 * 512
    ups = [m for m in G.net if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in ups] == [256, 128, 64, 3]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in ups)
    convs = [m for m in D.net if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [64, 128, 256, 512]
    assert not isinstance(D.net[1], torch.nn.BatchNorm2d)  # first conv has no BN
    small = article_dcgan.Generator(channels=1, image_size=48, z_dim=100, width=0.125)
    x = small(small.sample_z(2))
    assert x.shape == (2, 1, 48, 48)
    assert article_dcgan.Discriminator(1, 48, width=0.125, norm="batch")(x).shape == (2,)


@pytest.mark.slow
def test_a_few_real_steps_write_record_samples_and_tensorboard(cfg_factory, tmp_path):
    cfg = cfg_factory("steps=40", "eval_every=20", "scaling=raw", "head=identity")
    rec = run(cfg, tmp_path / "run")
    assert rec["status"] == "ok", rec["message"]
    on_disk = json.loads((tmp_path / "run" / "run.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["scaling"] == "raw" and on_disk["head"] == "identity"
    assert on_disk["config"]["steps"] == 40 and on_disk["wall_time_s"] > 0
    phases = on_disk["phases_s"]  # where the run's time went, each phase measured once
    assert set(phases) == {"setup", "build", "baseline", "evaluations", "final_evaluation",
                           "training_loop", "grids"}
    assert on_disk["memory_format"] == "channels_last"  # the gan family's default
    # the processor the numbers came from: its model and the kernels torch chose on it
    assert on_disk["machine"]["cpu"] and on_disk["machine"]["gpu"] is None
    assert on_disk["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert all(v >= 0 for v in phases.values()) and phases["training_loop"] > 0
    assert sum(phases.values()) <= on_disk["wall_time_s"] + 0.004  # 7 phases, each to 1 ms
    m = on_disk["metrics"]
    assert 0 <= m["out_of_range"] <= 1 and m["swd"] > 0 and m["swd_init"] > 0
    assert m["swd"] < m["swd_init"]  # 40 steps already move the generator towards the data
    # the ruler on the digits: recognisability as decoded and as the article's saver showed it
    for view in ("", "_article"):
        assert 0 <= m[f"confident{view}"] <= 1 and m[f"coverage{view}"] in range(11)
        assert m[f"kid{view}"] > 0.05  # 40 steps of a tiny network: far from real digits
    assert m["confident_real"] > 0.9  # real training digits against the same classifier
    assert 200 < m["span_real"] <= 255 and m["span"] >= 0
    for name in ("samples_decoded.png", "samples_article.png"):
        assert (tmp_path / "run" / name).stat().st_size > 100
    tags = tb_tags(tmp_path / "logs")
    assert {"gan/primary/swd", "gan/final/out_of_range", "gan/train/d_loss",
            "gan/eval/swd"} <= tags["scalars"]
    assert {"gan/samples/decoded", "gan/samples/article"} <= tags["images"]
    assert {"gan/eval/kid", "gan/eval/confident_article"} <= tags["scalars"]
    assert {"gan/hist/last_layer_z", "gan/hist/head_output"} <= tags["histograms"]
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= tags["hparams"]
    folder = list((tmp_path / "logs").rglob("events.out.tfevents.*"))[0].parent
    assert folder.relative_to(tmp_path / "logs").parts == ("adhoc", *on_disk["log_version"].split("/"))
    assert on_disk["log_version"].startswith(f"gan/raw/identity/seed0-{on_disk['config_key']}-")


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_metrics(cfg_factory, tmp_path):
    a = run(cfg_factory("steps=6", "logger=none"), tmp_path / "a")
    b = run(cfg_factory("steps=6", "logger=none"), tmp_path / "b")
    c = run(cfg_factory("steps=6", "logger=none", "seed=1"), tmp_path / "c")
    assert a["status"] == b["status"] == "ok"
    assert a["metrics"] == b["metrics"]
    assert a["metrics"]["swd"] != c["metrics"]["swd"]


@pytest.mark.slow
def test_blow_up_is_recorded_as_diverged(cfg_factory, tmp_path):
    rec = run(cfg_factory("steps=10", "logger=none", "model.module.blowup=1e-9"), tmp_path / "d")
    assert rec["status"] == "diverged" and "blow-up" in rec["message"]
    assert json.loads((tmp_path / "d" / "run.json").read_text())["status"] == "diverged"


def test_bad_input_is_recorded_as_failed_with_its_message(cfg_factory, tmp_path):
    rec = run(cfg_factory("data=folder", f"data.root={tmp_path}/missing", "logger=none"), tmp_path / "f")
    assert rec["status"] == "failed"
    assert "missing' is not a directory" in rec["message"]
    assert (tmp_path / "f" / "error.log").exists()


@pytest.mark.slow
def test_range_mismatch_is_recorded(cfg_factory, tmp_path):
    rec = run(cfg_factory("steps=2", "logger=none", "scaling=raw", "head=tanh"), tmp_path / "m")
    assert rec["status"] == "ok" and rec["range_mismatch"] is True
    # a tanh can never reach raw pixels above 1: nearly everything real is out of its reach
    assert rec["metrics"]["mean_gap"] > 0.2


@pytest.mark.slow
def test_the_batch_stream_and_noise_do_not_depend_on_the_checkpoint_interval(cfg_factory, tmp_path):
    """checkpoint_every cuts the run into epochs; the batches and the noise are the same."""
    runs = [run(cfg_factory("steps=9", "logger=none", f"checkpoint_every={c}"), tmp_path / f"c{c}")
            for c in (0, 3, 4)]
    assert all(r["status"] == "ok" for r in runs), [r["message"] for r in runs]
    assert runs[0]["metrics"] == runs[1]["metrics"] == runs[2]["metrics"]
    assert len({r["config_key"] for r in runs}) == 1  # the same run, by the config key too


def test_data_without_what_the_family_needs_is_one_line_before_any_work(tmp_path):
    cfg = make_cfg(tmp_path, "data=mosaic", "data.image_size=32", "logger=none", fast=False)
    rec = run(cfg, tmp_path / "x")
    assert rec["status"] == "failed" and rec["family"] == "gan"
    assert rec["message"] == ("DataError: model family 'gan' does not train on data=mosaic (its "
                              "SegData has no eval_images): give data=cifar10 or colour_digits or "
                              "digits or faces or fashion_mnist or folder or mnist")


def test_article_view_stretches_each_grid_once():
    from harness.models.gan import GANModule
    from harness.metrics.visuals import stretch_grid

    out = torch.cat([torch.full((64, 1, 4, 4), 0.1), torch.full((64, 1, 4, 4), 0.5)])
    out[0, 0, 0, 0], out[64, 0, 0, 0] = -0.3, 2.0  # each grid's own min/max
    module = GANModule.__new__(GANModule)
    module.n_grid = 64
    view = GANModule.article_view(module, out)
    assert torch.equal(view[:64], stretch_grid(out[:64])) and torch.equal(view[64:], stretch_grid(out[64:]))
    assert view[1].unique().tolist() == [255] and view[65].unique().tolist() == [0]  # grid 1: its max; grid 2: its min


@pytest.mark.slow
def test_runs_in_one_process_share_the_held_out_side_and_measure_as_if_alone(cfg_factory,
                                                                            tmp_path):
    """A sweep job's runs reuse the held-out SWD side, ruler and floors of the first: nothing
    is computed again, and the second run's metrics are those it gets in a fresh process."""
    from harness.models import gan

    gan._SHARED.clear()
    run(cfg_factory("steps=2", "logger=none"), tmp_path / "a")
    kept = {k: id(v) for k, v in gan._SHARED.items()}
    assert {k[0] for k in kept} == {"swd", "ruler", "floors"}
    shared = run(cfg_factory("steps=2", "logger=none", "seed=1"), tmp_path / "b")
    assert {k: id(v) for k, v in gan._SHARED.items()} == kept
    gan._SHARED.clear()
    alone = run(cfg_factory("steps=2", "logger=none", "seed=1"), tmp_path / "c")
    assert shared["status"] == alone["status"] == "ok"
    assert shared["metrics"] == alone["metrics"] and "swd_real" in alone["metrics"]
