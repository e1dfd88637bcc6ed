"""Data faults that were silent or late ("Nothing lost, nothing stale"): 0/255 masks, transparent
pixels, an image over Pillow's pixel limit, too few images for a held-out set, data.eval_size=1,
a family on data it cannot train on, and SWD on a constant colour channel. Each is one line
before any work, or a correct number."""
import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from harness.core.record import config_key
from harness.data.images import DataError, load_image
from harness.data.seg import SegData
from harness.data.sources import ImageData, images_needed, load_images
from harness.data.style import StyleData
from harness.metrics import swd as S
from harness.run.fit import result_config
from harness.run.precheck import problems_of
from helpers import FAST, FOLDER_CONFIGS, SEG_FAST, make_cfg, run_cli


def _save(path, a, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a, mode).save(path)
    return path


def _noise(seed, shape=(16, 16, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ------------------------------------------------------------------- 6: 0/255 binary masks
def _binary_pairs(root, n=8, size=16):
    for i in range(n):
        _save(root / "images" / f"{i}.png", _noise(i, (size, size, 3)))
        m = np.zeros((size, size), np.uint8)
        m[4:12, 4:12] = 255
        _save(root / "masks" / f"{i}.png", m)


def _seg_folder(root, **kw):
    args = dict(channels=3, image_size=16, n_classes=2, batch_size=2, steps=2, seed=0,
                n_train=None, n_val=None, root=str(root))
    return SegData("folder", **{**args, **kw})


def test_masks_of_only_0_and_the_ignore_index_are_refused_in_one_line(tmp_path):
    _binary_pairs(tmp_path)
    with pytest.raises(DataError) as e:
        _seg_folder(tmp_path).setup()
    assert str(e.value) == (
        f"every mask under '{tmp_path / 'masks'}' holds only 0 and 255 (data.ignore_index): all "
        "foreground would be ignored and the run would learn nothing; for 0/255 binary masks "
        "set data.binary_masks=true (255 is class 1, with data.n_classes=2), else relabel "
        "them 0..1")


def test_binary_masks_read_255_as_class_1(tmp_path):
    _binary_pairs(tmp_path)
    dm = _seg_folder(tmp_path, binary_masks=True)
    dm.setup()
    masks = torch.cat([dm.train_masks, dm.val_masks])
    assert set(masks.unique().tolist()) == {0, 1}
    assert masks[:, 4:12, 4:12].eq(1).all() and masks[:, :4].eq(0).all()
    assert dm.class_counts().tolist() == [6 * (256 - 64), 6 * 64]  # nothing ignored any more
    with pytest.raises(DataError, match=r"^data.binary_masks=true reads 0/255 masks as classes "
                                        r"0 and 1: set data.n_classes=2 \(got 3\)$"):
        _seg_folder(tmp_path, binary_masks=True, n_classes=3)


def test_seg_folder_offers_binary_masks_off_by_default(tmp_path):
    cfg = make_cfg(tmp_path, "model=seg", "data=seg_folder", "data.root=/x", "data.n_classes=2",
                   fast=False)
    assert cfg.data.binary_masks is False
    cfg = make_cfg(tmp_path, "model=seg", "data=seg_folder", "data.root=/x", "data.n_classes=2",
                   "data.binary_masks=true", fast=False)
    assert problems_of(cfg) == []


@pytest.mark.slow
def test_a_0_255_mask_run_stops_before_training_and_trains_with_binary_masks(tmp_path):
    from harness.run.runs import run

    _binary_pairs(tmp_path / "data", n=12)
    common = [*(o for o in SEG_FAST if not o.startswith("data.mosaic")), "data=seg_folder", f"data.root={tmp_path / 'data'}", "data.n_classes=2",
              "data.n_train=null", "data.n_val=null", "logger=none"]
    rec = run(make_cfg(tmp_path, *common, fast=False), tmp_path / "a")
    assert rec["status"] == "failed"
    assert rec["message"].startswith("DataError: every mask under ")
    assert not (tmp_path / "a" / "history.csv").exists()  # no evaluation, no step
    rec = run(make_cfg(tmp_path, *common, "data.binary_masks=true", fast=False), tmp_path / "b")
    assert rec["status"] == "ok" and rec["metrics"]["majority_miou"] > 0


# --------------------------------------------------------- 9: transparent pixels composited
def _rgba(size=16):
    """Fully transparent red around an opaque blue square: the red must never be seen."""
    a = np.zeros((size, size, 4), np.uint8)
    a[..., 0] = 255
    a[4:12, 4:12] = [0, 0, 255, 255]
    return a


@pytest.mark.parametrize("background, level", [("white", 255), ("grey", 128), ("black", 0)])
def test_transparent_pixels_are_composited_on_the_background(tmp_path, caplog, background,
                                                             level):
    for i in range(3):
        _save(tmp_path / f"t{i}.png", _rgba(), "RGBA")
    _save(tmp_path / "z_opaque.png", _noise(0))  # sorted last
    with caplog.at_level(logging.INFO, logger="harness"):
        x = load_images("folder", channels=3, image_size=16, root=str(tmp_path),
                        background=background)
    assert x[:3, :, 0, 0].eq(level).all()  # the hidden red is gone
    assert x[:3, :, 4, 4].tolist() == [[0, 0, 255]] * 3
    assert torch.equal(x[3], torch.from_numpy(_noise(0)).permute(2, 0, 1))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"3 of 4 images under '{tmp_path}' have transparent pixels: composited "
                        f"on {background} (data.background: white | grey | black)"]


def test_opaque_alpha_and_palette_transparency_read_as_before(tmp_path):
    rgb = _noise(1)
    opaque = np.concatenate([rgb, np.full((16, 16, 1), 255, np.uint8)], axis=2)
    x, transparent = load_image(_save(tmp_path / "o.png", opaque, "RGBA"), 3)
    assert not transparent and torch.equal(x[0], torch.from_numpy(rgb).permute(2, 0, 1))
    p = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), "P")
    p.putpalette([v for i in range(256) for v in (i, i, i)])  # a grey ramp
    p.save(tmp_path / "p.png", transparency=0)  # palette index 0 is transparent
    x, transparent = load_image(tmp_path / "p.png", 1, "black")
    assert transparent and x[0, 0, 0, 0] == 0 and x[0, 0, 0, 1] == 1
    x, _ = load_image(tmp_path / "p.png", 1, "white")
    assert x[0, 0, 0, 0] == 255


def test_seg_and_style_files_are_composited_too(tmp_path, caplog):
    for i in range(4):
        _save(tmp_path / "seg" / "images" / f"{i}.png", _rgba(), "RGBA")
        _save(tmp_path / "seg" / "masks" / f"{i}.png", np.zeros((16, 16), np.uint8))
    dm = _seg_folder(tmp_path / "seg", background="black", n_val=1)
    dm.setup()
    assert dm.train_images[:, :, 0, 0].eq(0).all()
    for i in range(3):
        _save(tmp_path / "photos" / f"{i}.png", _rgba(40), "RGBA")
    style = _save(tmp_path / "style.png", _rgba(), "RGBA")
    with caplog.at_level(logging.WARNING, logger="harness"):
        st = StyleData(steps=1, seed=0, content="folder", root=str(tmp_path / "photos"),
                       crop_size=8, batch_size=2, eval_size=2, photo_size=16, style_size=16,
                       style=str(style), background="grey")
        st.setup()
    assert st.style_image[0, :, 0, 0].tolist() == [128] * 3
    assert all(p[:, 0, 0].tolist() == [128] * 3 for p in st.train_photos)
    assert f"style image '{style}' has transparent pixels: composited on grey (data.background: " \
           "white | grey | black)" in caplog.messages


@pytest.mark.parametrize("overrides", FOLDER_CONFIGS)
def test_the_background_is_a_setting_in_the_config_key_and_checked(tmp_path, overrides):
    white = make_cfg(tmp_path, *overrides, fast=False)
    black = make_cfg(tmp_path, *overrides, "data.background=black", fast=False)
    assert white.data.background == "white"
    assert config_key(result_config(white)) != config_key(result_config(black))
    assert problems_of(make_cfg(tmp_path, *overrides, "data.background=pink", fast=False)) == [
        "data.background='pink' is not accepted: give white or grey or black (the colour "
        "transparent pixels of an image file are composited on)"]


# ------------------------------------------------------------ a: over Pillow's pixel limit
def _bomb_folder(root, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 2000 pixels stop Pillow
    for i in range(9):
        _save(root / f"ok{i}.png", _noise(i, (20, 20, 3)))  # 400 pixels
    _save(root / "huge.png", _noise(9, (64, 64, 3)))  # 4096 pixels


def test_an_image_over_pillows_pixel_limit_is_named_and_skipped_on_request(tmp_path,
                                                                          monkeypatch, caplog):
    _bomb_folder(tmp_path, monkeypatch)
    with pytest.raises(DataError) as e:
        load_images("folder", channels=3, image_size=16, root=str(tmp_path))
    assert str(e.value).startswith(
        f"1 of 10 images under '{tmp_path}' cannot be read: huge.png (DecompressionBombError: "
        "Image size (4096 pixels) exceeds limit of 2000 pixels); accepted: ")
    assert str(e.value).endswith("; set data.skip_unreadable=true to train without them")
    with caplog.at_level(logging.INFO, logger="harness"):
        x = load_images("folder", channels=3, image_size=16, root=str(tmp_path),
                        skip_unreadable=True)
    assert len(x) == 9
    assert f"data: 9 images loaded from '{tmp_path}', 1 skipped (unreadable), 0 upscaled from " \
           "smaller than 16 px" in caplog.messages


# ------------------------------------------------------- b: too few images for a held-out set
def test_too_few_images_for_a_held_out_set_is_one_line_with_the_count_needed(tmp_path):
    for i in range(3):
        _save(tmp_path / f"{i}.png", _noise(i))
    dm = ImageData("folder", 3, 16, batch_size=2, eval_size=512, steps=1, seed=0,
                   root=str(tmp_path))
    with pytest.raises(DataError) as e:
        dm.setup()
    assert str(e.value) == (
        f"only 3 images under '{tmp_path}': the held-out set the metrics compare against takes "
        "a quarter of them (at most data.eval_size=512) and needs at least 2, and training a "
        "batch of data.batch_size=2 more: give at least 8 images")
    assert images_needed(512, 2) == 8 and images_needed(512, 64) == 85
    for i in range(3, 8):
        _save(tmp_path / f"{i}.png", _noise(i))
    dm = ImageData("folder", 3, 16, batch_size=2, eval_size=512, steps=1, seed=0,
                   root=str(tmp_path))
    dm.setup()  # the number it asked for is enough
    assert len(dm.eval_images) == 2 and len(dm.train_images) == 6


def test_too_few_for_the_batch_says_to_lower_it():
    dm = ImageData("digits", 1, 32, batch_size=64, eval_size=512, steps=1, seed=0, limit=20)
    with pytest.raises(DataError, match=r"^only 20 images \(data.limit=20\): .* give at least 85 "
                                        r"images or lower data.batch_size$"):
        dm.setup()


# ---------------------------------------------------------------- c: data.eval_size=1
def test_an_eval_size_of_one_is_refused_naming_the_setting(tmp_path):
    assert problems_of(make_cfg(tmp_path, "data.eval_size=1")) == [
        "data.eval_size=1 is not accepted: give an integer >= 2 (held-out images the metrics "
        "compare against; KID and a spread need two)"]
    assert problems_of(make_cfg(tmp_path, "model=style", "data.eval_size=1", fast=False)) != []
    assert problems_of(make_cfg(tmp_path, "data.eval_size=2")) == []


# ------------------------------------------------------- d: a family on data it cannot use
@pytest.mark.parametrize("overrides, line", [
    (["model=seg", "data=digits"],
     "model family 'seg' does not train on data=digits (its ImageData has no val_images, "
     "val_masks, class_counts): give data=mosaic or pet or seg_folder or voc"),
    (["model=gan", "data=mosaic"],
     "model family 'gan' does not train on data=mosaic (its SegData has no eval_images): give "
     "data=cifar10 or colour_digits or digits or faces or fashion_mnist or folder or mnist"),
    (["model=style", "data=folder", "data.root=/x"],
     "model family 'style' does not train on data=folder (its ImageData has no style_image): "
     "give data=photos"),
    (["model=gan", "data=seg_folder", "data.root=/x", "data.n_classes=2"],
     "model family 'gan' does not train on data=seg_folder (its SegData has no eval_images): "
     "give data=cifar10 or colour_digits or digits or faces or fashion_mnist or folder or mnist"),
])
def test_a_family_on_data_it_cannot_train_on_is_one_line_naming_both(tmp_path, overrides, line):
    assert problems_of(make_cfg(tmp_path, *overrides, fast=False)) == [line]


def test_every_family_fits_its_own_data(tmp_path):
    for overrides in (["model=gan"], ["model=seg"], ["model=style"], ["data=folder",
                      "data.root=/x"], ["model=gan_article"]):
        assert problems_of(make_cfg(tmp_path, *overrides, fast=False)) == [], overrides


@pytest.mark.slow
def test_the_command_line_refuses_a_mismatch_before_any_work(tmp_path):
    r = run_cli("model=seg", "data=digits", "steps=1", f"hydra.run.dir={tmp_path}/run",
                cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "error: model family 'seg' does not train on data=digits (its ImageData has no "
        "val_images, val_masks, class_counts): give data=mosaic or pet or seg_folder or voc")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------- e: SWD on a constant channel
def _flat_blue(n, seed, level=100):
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32),
                                                              dtype=np.uint8))
    x[:, 2] = level
    return x


def test_swd_of_a_constant_channel_is_sane():
    real = _flat_blue(32, 0)
    near = S.swd(real, _flat_blue(32, 1))  # other noise, the same blue
    off = S.swd(real, _flat_blue(32, 1, level=110))  # blue off by 10 grey levels
    assert near["swd"] < 1e3 and near["swd_own"] < 1e3
    assert near["swd"] < off["swd"] < 1e4  # counted, in pixel units, not x1e8


def test_swd_is_unchanged_where_no_channel_is_flat(monkeypatch):
    real, fake = _flat_blue(16, 0, 0), _flat_blue(16, 1, 0)
    real[:, 2], fake[:, 2] = real[:, 0], fake[:, 1].flip(0)  # every channel varies
    new = S.swd(real, fake)
    monkeypatch.setattr(S, "_moments", lambda d: (d.mean(dim=(0, 2), keepdim=True),
                                                  d.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)))
    assert S.swd(real, fake) == new  # the old normalisation, bit for bit


@pytest.mark.slow
def test_a_gan_run_on_a_constant_blue_folder_reports_a_sane_swd(tmp_path):
    for i, x in enumerate(_flat_blue(16, 0)):
        _save(tmp_path / "blue" / f"{i}.png", x.permute(1, 2, 0).numpy())
    r = run_cli(*FAST, "data=folder", f"data.root={tmp_path / 'blue'}", "data.batch_size=4",
                "data.eval_size=4", "steps=2", "logger=none", "model.module.ruler_dir=null",
                f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "run" / "run.json").read_text())["metrics"]
    assert 0 < metrics["swd"] < 1e4 and 0 < metrics["swd_init"] < 1e4  # was 1e9..1e10
