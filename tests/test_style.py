"""The style family: network, perceptual loss, data and a few real training steps. No download:
VGG is random (seeded) or `auto` with download off, and torch.hub points at an empty folder."""
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

from helpers import CONF, FAMILY_ARGS, make_cfg
from harness.metrics import vgg as V
from harness.data.images import DataError
from harness.models.style import StyleModule
from harness.models.transformer_net import TransformerNet
from harness.core.pixels import SCALINGS, get_head, make_scaling
from harness.data.style import StyleData, bundled, load_style


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    """No cached VGG file, whatever the machine has: tests run the no-weights path."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))


@pytest.fixture(scope="module")
def vgg():
    return V.VGGFeatures("random", seed=0)


def module(scaling="raw", head="identity", **kw):
    torch.manual_seed(0)
    net = TransformerNet(channels=3, width=4, n_res=1)
    weights = {"content_weight": 5.0, "style_weight": 1.0, "tv_weight": 20.0, "lr": 1e-3,
               "ruler_seed": 1, "last_lr_scale": 1.0}
    return StyleModule(net, scaling=make_scaling(scaling, 3), head=get_head(head),
                       vgg={"weights": "random"}, **{**FAMILY_ARGS, **weights, **kw})


def texture(name, top, left, size=64):
    return load_style(name, 256)[..., top:top + size, left:left + size].contiguous()


@pytest.mark.parametrize("size", [64, 48])
def test_transform_net_keeps_shape_and_the_paper_layout(size):
    net = TransformerNet(channels=3, width=8, n_res=2)
    assert net(torch.rand(2, 3, size, size)).shape == (2, 3, size, size)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == convs[-1].kernel_size == (9, 9)
    assert [c.stride for c in convs[1:3]] == [(2, 2), (2, 2)]
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(m.affine for m in norms)
    assert isinstance(list(net.out.modules())[-1], torch.nn.Conv2d)  # raw z: no norm, no activation


def test_vgg_stays_frozen_and_in_eval_mode_and_is_not_optimised():
    m = module()
    m.train()
    assert m.net.training and not any(x.training for x in m.vgg.modules())
    assert not any(p.requires_grad for p in m.vgg.parameters())
    opt = m.configure_optimizers()
    optimised = {id(p) for g in opt.param_groups for p in g["params"]}
    assert optimised == {id(p) for p in m.net.parameters()}


def test_losses_of_an_image_against_itself_are_zero(vgg):
    x = texture("brick", 0, 0).float()
    f = vgg(V.normalise(x))
    grams = {k: V.gram(v) for k, v in f.items()}
    assert float(V.content_loss(f, f)) == 0 and float(V.style_loss(f, grams)) == 0
    other = vgg(V.normalise(texture("grass", 0, 0).float()))
    assert float(V.content_loss(other, f)) > 0 and float(V.style_loss(other, grams)) > 0


def test_style_loss_is_smaller_within_a_texture_than_across_textures(vgg):
    def grams(name, top, left):
        return {k: V.gram(v) for k, v in vgg(V.normalise(texture(name, top, left).float())).items()}

    brick = vgg(V.normalise(texture("brick", 0, 0).float()))
    same = float(V.style_loss(brick, grams("brick", 160, 150)))
    for other in ("grass", "gravel"):
        assert same < float(V.style_loss(brick, grams(other, 160, 150))), other


def test_vgg_path_gives_the_same_features_whichever_scaling_encoded_the_image():
    x = bundled("astronaut")[..., 100:164, 200:264]
    feats = {}
    for name in SCALINGS:
        m = module(scaling=name)
        feats[name] = m.vgg(V.normalise(m.scaling.to_pixels(m.scaling.encode(x))))
    for name, f in feats.items():
        for k in V.LAYERS:
            assert torch.allclose(f[k], feats["raw"][k], rtol=1e-4, atol=1e-4), (name, k)


@pytest.mark.slow
def test_total_loss_decreases_over_a_few_real_steps():
    m = module(scaling="symmetric", head="tanh", style_weight=1.0, tv_weight=1.0)
    x = torch.stack([texture("brick", 0, 0)[0], bundled("coffee")[0, :, 100:164, 200:264]])
    m.use_data(SimpleNamespace(style_image=load_style("gravel", 64), eval_images=x))
    opt = torch.optim.Adam(m.net.parameters(), lr=1e-2)
    losses = []
    for step in range(1, 13):
        loss = m.train_step(x, [opt], lambda t: t.backward(), m.step_rng(step))[0]["loss"]
        losses.append(float(loss.detach()))
    assert sum(losses[-3:]) < 0.8 * sum(losses[:3]), losses


def test_missing_or_unreadable_style_is_a_one_line_data_error(tmp_path):
    with pytest.raises(DataError) as e:
        load_style(str(tmp_path / "nope.png"), 64)
    assert "nope.png" in str(e.value) and "\n" not in str(e.value)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(DataError, match="bad.png"):
        load_style(str(bad), 64)


def test_style_data_streams_exactly_steps_batches_and_a_fixed_held_out_set():
    a, b = StyleData(steps=3, seed=0, batch_size=2, eval_size=5), StyleData(steps=3, seed=1)
    a.setup()
    b.setup()
    batches = list(a.train_dataloader())
    assert len(batches) == 3 and all(x.shape == (2, 3, 64, 64) and x.dtype == torch.uint8
                                     for x in batches)
    assert a.eval_images.shape == (5, 3, 64, 64) and torch.equal(a.eval_images, b.eval_images[:5])
    assert a.style_image.shape == (1, 3, 128, 128) and a.style_image.dtype == torch.uint8


def test_imagenet_weights_without_a_cached_file_fail_fast_and_auto_falls_back():
    with pytest.raises(V.VGGWeightsError, match="download is off"):
        V.VGGFeatures("imagenet", download=False)
    fell_back = V.VGGFeatures("auto", download=False)  # says why; the run warns with it
    assert fell_back.weights_used == "random" and "download is off" in fell_back.fallback
    assert "random VGG16 weights" in fell_back.fallback
    assert V.VGGFeatures("random").fallback is None


def test_a_style_run_warns_once_that_it_uses_random_vgg_weights(tmp_path):
    """The loss network does not read Hydra's state: the run gives the module's note as a
    warning (once per sweep; every time outside one)."""
    from harness.run.fit import build_run

    cfg = make_cfg(tmp_path, "model=style", "scaling=raw", "head=tanh_fit", "steps=1",
                   "model.module.vgg.weights=auto", fast=False)
    with pytest.warns(UserWarning, match="random VGG16 weights"):
        model, _ = build_run(cfg)
    assert model.vgg_weights == "random" and "vgg-random-weights" in model.notes


def test_auto_uses_the_cached_torchvision_file(vgg):
    path = V.cached_weights_file()
    path.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v + 1 for k, v in vgg.features.state_dict().items()}, path)
    loaded = V.VGGFeatures("auto", download=False)
    assert loaded.weights_used == "imagenet"
    assert torch.equal(loaded.features[0].weight, vgg.features[0].weight + 1)


def test_checkpoints_leave_the_frozen_vgg_out_and_restore_the_module():
    m = module()
    torch.nn.init.constant_(m.net.out[1].bias, 7.0)
    m.initial_metrics = {"style_loss_init": 1.5}
    ckpt = {"state_dict": m.state_dict()}
    m.on_save_checkpoint(ckpt)
    assert ckpt["state_dict"] and not any(k.startswith("vgg.") for k in ckpt["state_dict"])
    back = module()
    back.on_load_checkpoint(ckpt)
    back.load_state_dict(ckpt["state_dict"])  # strict: every key is there again
    assert back.initial_metrics == {"style_loss_init": 1.5}
    assert float(back.net.out[1].bias[0].detach()) == 7.0


def test_model_style_selects_the_photo_data():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["model=style", "scaling=raw", "head=identity"])
    assert cfg.model.module._target_ == "harness.models.style.StyleModule"
    assert cfg.data._target_ == "harness.data.style.StyleData"
    assert cfg.model.module.net.channels == cfg.data.channels == 3


@pytest.mark.slow
def test_a_few_steps_through_a_real_trainer_then_metrics_and_grids():
    data = StyleData(steps=3, seed=0, batch_size=2, eval_size=4, crop_size=48, style_size=64)
    m = module(scaling="raw", head="tanh_fit")
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(m, datamodule=data)
    assert trainer.global_step == 3
    assert m.initial_metrics["vgg_imagenet"] == 0.0 and m.vgg_weights == "random"
    metrics = m.finish()
    for k in ("content_loss", "style_loss", "tv_loss", "out_of_range", "out_excess"):
        assert torch.isfinite(torch.tensor(metrics[k])), k
    assert metrics["out_of_range"] == 0  # tanh_fit cannot leave [0, 255]
    grids = m.final.grids
    assert set(grids) == {"decoded", "stretched"}
    assert all(g.dtype == torch.uint8 and g.shape[0] == 3 for g in grids.values())


def test_rulers_without_imagenet_weights_read_structure_and_colour():
    """SSIM of the content with itself is 1 and of a brighter copy lower; a flat grey output
    keeps no structure; the colour gaps read the brightness shift in 0..1 units."""
    from harness.models.style import content_rulers

    g = torch.Generator().manual_seed(0)
    content = torch.randint(0, 200, (4, 3, 32, 32), dtype=torch.uint8, generator=g)
    same = content_rulers(content.float(), content)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert same["colour_mean_gap"] == same["colour_std_gap"] == 0.0
    brighter = content_rulers((content.float() + 40).clamp(0, 255), content)
    assert brighter["ssim"] < 0.99 and brighter["colour_mean_gap"] == pytest.approx(40 / 255)
    flat = content_rulers(torch.full(content.shape, 128.0), content)
    assert flat["ssim"] < 0.05 and flat["span_decoded"] == 0.0
    assert flat["colour_std_gap"] == pytest.approx(float(content.float().std(dim=(0, 2, 3)).mean()) / 255, rel=1e-3)


def test_the_style_side_ruler_finds_the_style_image_closer_than_the_content_photos():
    """Both style-side gaps (a second random VGG16's Gram distance, the colour histograms'),
    against the style image: crops of the style image itself score far lower than the held-out
    content photos, and the style image's own whole scores 0 on both."""
    from harness.metrics.style_rulers import StyleRuler

    data = StyleData(steps=1, seed=0, batch_size=2, eval_size=8)
    data.setup()
    ruler = StyleRuler(data.style_image, seed=1)
    itself = ruler(data.style_image.float())
    assert itself["style_gram_gap"] == pytest.approx(0, abs=1e-9)
    assert itself["colour_hist_gap"] == 0
    crops = data.style_image.unfold(2, 64, 64).unfold(3, 64, 64).permute(0, 2, 3, 1, 4, 5)
    crops = crops.reshape(-1, 3, 64, 64).float()  # 4 crops of the 128 px style image
    style, photo = ruler(crops), ruler(data.eval_images.float())
    assert style["style_gram_gap"] < 0.5 * photo["style_gram_gap"], (style, photo)
    assert style["colour_hist_gap"] < 0.5 * photo["colour_hist_gap"], (style, photo)
    # another seed is another network: the ruler is not the loss's VGG (seed 0)
    other = StyleRuler(data.style_image, seed=0)(data.eval_images.float())
    assert other["style_gram_gap"] != photo["style_gram_gap"]


def test_the_last_layer_learning_rate_arm_of_the_style_network():
    """``model.module.last_lr_scale``, as the GAN's: the transform network's last layer at lr x
    127.5, every other weight at lr, each in exactly one group."""
    m = module(last_lr_scale=127.5)
    groups = m.configure_optimizers().param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-3 * 127.5])
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in m.net.last.parameters()}
    every = sorted(id(p) for g in groups for p in g["params"])
    assert every == sorted(id(p) for p in m.net.parameters())
    assert len(module().configure_optimizers().param_groups) == 1
