"""The article's GAN as its code ran: one z per iteration, one D and two G steps (counted with
hooks on the networks and optimisers, not read from the code), TensorFlow's initialisers, the
mechanism arms (a discriminator without BatchNorm, the last layer's learning rate) and the
colour digits."""
import pytest
import torch
from hydra import compose, initialize_config_dir

from harness.data.sources import BACKGROUND, load_images
from harness.models.article_dcgan import Discriminator, Generator
from harness.run.fit import build_run
from helpers import CONF

SMALL = ["model=gan_article", "model.width=0.0625", "data.batch_size=8", "data.eval_size=16",
         "model.module.ruler_dir=null"]


def _model(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[*SMALL, *overrides])
    return build_run(cfg)


def _one_iteration(*overrides):
    """One train_step; returns (the z of every G call, D calls, D steps, G steps, model)."""
    model, data = _model(*overrides)
    batch = next(iter(data.train_dataloader()))
    opts = list(model.configure_optimizers())
    zs, d_calls, steps = [], [], {"d": 0, "g": 0}
    model.G.register_forward_pre_hook(lambda m, args: zs.append(args[0].clone()))
    model.D.register_forward_hook(lambda m, args, out: d_calls.append(len(out)))
    for name, opt in zip("dg", opts):
        opt.register_step_post_hook(lambda o, a, k, name=name: steps.__setitem__(name,
                                                                                 steps[name] + 1))
    model.train_step(batch, opts, lambda loss: loss.backward(), model.step_rng(1))
    return zs, d_calls, steps, model


def test_gan_article_takes_one_d_step_and_two_g_steps_on_one_z():
    zs, d_calls, steps, model = _one_iteration()
    assert model.reuse_z is True  # on by default for gan_article
    assert steps == {"d": 1, "g": 2}
    assert len(zs) == 3 and all(torch.equal(z, zs[0]) for z in zs)  # D's fakes, then G twice
    assert d_calls == [8, 8, 8, 8]  # real and fake for the D step, fake for each G step


def test_without_reuse_each_step_draws_its_own_z():
    zs, _, steps, _ = _one_iteration("model.module.reuse_z=false")
    assert steps == {"d": 1, "g": 2} and len(zs) == 3
    assert not torch.equal(zs[0], zs[1]) and not torch.equal(zs[1], zs[2])


def test_the_dcgan_draws_its_z_stream_as_before():
    """reuse_z off (``model=gan``): each step draws its own z from the step's generator, in
    order, exactly as before the option existed."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["model.module.generator.width=8",
                                          "model.module.discriminator.width=8",
                                          "data.batch_size=8", "model.module.ruler_dir=null"])
    model, data = build_run(cfg)
    assert model.reuse_z is False
    zs = []
    model.G.register_forward_pre_hook(lambda m, args: zs.append(args[0].clone()))
    opts = list(model.configure_optimizers())
    model.train_step(next(iter(data.train_dataloader())), opts, lambda loss: loss.backward(),
                     model.step_rng(7))
    rng = model.step_rng(7)
    expected = [model.G.sample_z(8, generator=rng) for _ in range(2)]  # one D step, one G step
    assert len(zs) == 2 and all(torch.equal(a, b) for a, b in zip(zs, expected))


@pytest.mark.parametrize("width", [0.0625, 0.125, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("norm", ["batch", "none"])
def test_the_discriminator_builds_at_every_width_with_and_without_norm(width, norm):
    d = Discriminator(channels=3, image_size=48, width=width, norm=norm)
    bns = [m for m in d.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == (3 if norm == "batch" else 0)
    assert d(torch.randn(4, 3, 48, 48)).shape == (4,)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4  # the article's structure either way


def test_the_discriminator_norm_is_checked_by_name():
    with pytest.raises(ValueError, match="norm='group' is not accepted: give batch or none"):
        Discriminator(channels=3, image_size=48, width=1.0, norm="group")


def test_tensorflow_initialisers():
    torch.manual_seed(0)
    g = Generator(channels=1, image_size=48, z_dim=100, width=1.0)
    d = Discriminator(channels=1, image_size=48, width=1.0, norm="batch")
    convs = [m.weight for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(float(w.detach().abs().max()) <= 0.04 for w in convs)  # truncated at 2 std, redrawn
    assert 0.015 < float(convs[-1].std()) < 0.019  # a normal cut at 2 std has std 0.88 sigma
    deconv = g.last.weight
    assert float(deconv.abs().max()) > 0.04 and 0.019 < float(deconv.std()) < 0.021  # not cut
    for linear in (g.fc, d.fc):  # normal, not truncated
        assert float(linear.weight.detach().abs().max()) > 0.04
    bns = [m for m in (*g.modules(), *d.modules()) if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any() for m in bns)
    biases = [m.bias for m in (*g.modules(), *d.modules())
              if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))]
    assert all(not b.any() for b in biases)


def test_the_last_layer_learning_rate_arm():
    model, _ = _model("model.module.last_lr_scale=127.5")
    _, opt_g = model.configure_optimizers()
    groups = opt_g.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([2e-4, 2e-4 * 127.5])
    last = {id(p) for p in model.G.last.parameters()}
    assert {id(p) for p in groups[1]["params"]} == last
    every = [id(p) for g in groups for p in g["params"]]
    assert sorted(every) == sorted(id(p) for p in model.G.parameters())  # each exactly once
    model, _ = _model()
    assert len(model.configure_optimizers()[1].param_groups) == 1


def test_colour_digits_are_colour_on_a_mid_grey_background():
    x = load_images("colour_digits", channels=3, image_size=48)
    again = load_images("colour_digits", channels=3, image_size=48)
    assert x.shape == (1797, 3, 48, 48) and torch.equal(x, again)  # fixed colours
    corner = x[:, :, 0, 0].float()  # the digits' corners are background
    assert float(corner.min()) >= BACKGROUND[0] and float(corner.max()) <= BACKGROUND[1]
    assert (corner[:, 0] == corner[:, 1]).all()  # grey
    assert float(x.float().std((0, 2, 3)).min()) > 20  # the inks differ per image and channel


def test_the_black_start_control_starts_at_the_data_mean_and_draws_nothing():
    """``last_bias=data_mean``: the untrained generator's decoded samples sit at the training
    images' mean (the plain raw + identity arm starts near 0, black); the streams of the run are
    the plain arm's (no random number is drawn), so only the start differs."""
    from harness.core.pixels import get_head, make_scaling

    means = {}
    for last_bias in ("null", "data_mean"):
        model, data = _model("scaling=raw", "head=identity", f"model.module.last_bias={last_bias}")
        data.setup()
        rng = torch.get_rng_state()
        model.use_data(data)
        assert torch.equal(torch.get_rng_state(), rng)
        with torch.no_grad():
            out = model.generate(model.G.sample_z(64, torch.Generator().manual_seed(0)))[1]
        means[last_bias] = model.scaling.decode(out).float().mean().item()
    target = data.train_images.float().mean().item()  # about 30 grey levels on the digits
    assert abs(means["data_mean"] - target) < 2 and abs(means["null"] - target) > 20
    # the same rule under a head with an activation: tanh's preimage of the encoded mean
    s = make_scaling("symmetric", 1)
    y = s.encode(torch.tensor(target).view(1, 1, 1, 1))
    assert get_head("tanh")(get_head("tanh").preimage(y, s), s).item() == pytest.approx(
        y.item(), abs=1e-5)


def test_the_black_start_control_needs_a_last_layer_with_a_bias():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["model.module.last_bias=data_mean",
                                          "model.module.ruler_dir=null"])
    with pytest.raises(ValueError, match="last_bias=data_mean needs a generator"):
        build_run(cfg)  # the pytorch/examples DCGAN: no bias on its last layer
