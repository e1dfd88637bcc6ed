"""The segmentation family: mosaic data, checked real data, heads, metrics, a real Trainer run."""
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from harness.run.fit import build_run
from helpers import CONF, FAMILY_ARGS, SEG_FAST, tb_tags
from harness.data.images import DataError
from harness.models.base import Skipped
from harness.models.seg import SegModule, seg_metrics
from harness.models.unet import UNet
from harness.core.pixels import get_head, make_scaling
from harness.data.mosaic import make_mosaic
from harness.data.seg import PET_LUT, SegData, read_mask

SMALL = dict(image_size=32, n_classes=5, texture_size=64)


def small_data(steps=3, **kw) -> SegData:
    args = dict(source="mosaic", channels=3, batch_size=8, steps=steps, seed=0, n_train=32,
                n_val=16, image_size=32, n_classes=5, mosaic={"texture_size": 64})
    dm = SegData(**{**args, **kw})
    dm.setup()
    return dm


def small_module(scaling="imagenet", head="identity", norm="batch", channels=3) -> SegModule:
    net = UNet(channels, n_classes=5, depth=2, width=8, norm=norm, init="auto")
    return SegModule(net, scaling=make_scaling(scaling, channels), head=get_head(head),
                     n_classes=5, lr=3e-3, ignore_index=255, n_overlay=16,
                     **{**FAMILY_ARGS, "log_every": 1})


@pytest.mark.parametrize("channels", [1, 3])
def test_mosaic_masks_match_their_images_and_hold_valid_ids(channels):
    x, m = make_mosaic(12, split=0, dataset_seed=0, channels=channels, **SMALL)
    assert x.dtype == m.dtype == torch.uint8
    assert x.shape == (12, channels, 32, 32) and m.shape == (12, 32, 32)
    assert int(m.max()) < 5 and len(m.unique()) >= 3  # several classes on a background
    assert 0 < float((m == 0).float().mean()) < 1
    assert float(x.float().std()) > 10  # textures, not flat fills


def test_dataset_seed_fixes_the_data_and_the_splits_differ():
    a, b = small_data(), small_data(seed=7)  # the run seed only orders the stream
    c = small_data(dataset_seed=1)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.val_masks, b.val_masks)
    assert not torch.equal(a.train_images, c.train_images)
    assert not torch.equal(a.train_masks[:16], a.val_masks)
    batches = list(a.train_dataloader())
    assert len(batches) == 3 and batches[0][0].shape == (8, 3, 32, 32) and batches[0][1].shape == (8, 32, 32)


@pytest.mark.parametrize("head,norm,scaling", [("identity", "batch", "imagenet"),
                                               ("sigmoid", "batch", "unit"),
                                               ("identity", "none", "symmetric")])
@pytest.mark.slow
def test_a_few_real_steps_reduce_the_loss(head, norm, scaling):
    torch.manual_seed(0)
    dm = small_data()
    x, m = dm.train_images[:8], dm.train_masks[:8]
    module = small_module(scaling, head, norm)
    opt = module.configure_optimizers()
    losses = []
    for _ in range(15):
        loss = module.loss(module.net(module.scaling.encode(x)), m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(map(math.isfinite, losses))
    assert losses[-1] < 0.9 * losses[0], losses  # measured: 0.72, 0.84, 0.67


def test_miou_of_the_ground_truth_against_itself_is_one():
    m = small_data().val_masks.clone()
    m[:, :2] = 255  # ignored pixels count for nothing
    out = seg_metrics(m, m, n_classes=6, ignore_index=255)  # class 5 never occurs
    assert out["miou"] == 1 and out["pixel_acc"] == 1
    assert all(out[f"iou_c{k}"] == 1 for k in range(5)) and math.isnan(out["iou_c5"])
    pred, target = torch.tensor([[0, 1, 1, 1]]), torch.tensor([[0, 0, 1, 1]])
    out = seg_metrics(pred, target, n_classes=2, ignore_index=255)
    assert out["iou_c0"] == pytest.approx(1 / 2) and out["iou_c1"] == pytest.approx(2 / 3)
    assert out["miou"] == pytest.approx(7 / 12) and out["pixel_acc"] == pytest.approx(3 / 4)


def test_an_image_head_is_skipped_with_its_reason():
    with pytest.raises(Skipped, match=r"^head 'tanh' has no meaning for seg class "
                                      r"scores \(valid: identity, sigmoid\)$"):
        small_module(head="tanh")


def _pair(root, stem, image_hw, mask):
    for d in ("images", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((*image_hw, 3), np.uint8), "RGB").save(root / "images" / f"{stem}.jpg")
    Image.fromarray(np.asarray(mask, np.uint8), "L").save(root / "masks" / f"{stem}.png")


def _folder(root, **kw):
    return SegData("folder", 3, 16, n_classes=3, batch_size=2, steps=1, seed=0, n_val=1,
                   root=str(root), **kw)


def test_folder_pairs_load_and_bad_masks_name_their_file(tmp_path):
    good = np.zeros((20, 30), np.uint8)
    good[:, 15:] = 2
    good[0] = 255
    for i in range(4):
        _pair(tmp_path / "ok", f"p{i}", (20, 30), good)
    dm = _folder(tmp_path / "ok")
    dm.setup()
    assert dm.train_images.shape == (3, 3, 16, 16) and dm.val_masks.shape == (1, 16, 16)
    assert set(dm.train_masks.unique().tolist()) <= {0, 2, 255}  # nearest: no blended ids

    _pair(tmp_path / "size", "a", (20, 30), good)
    _pair(tmp_path / "size", "b", (20, 30), good[:, :20])
    with pytest.raises(DataError, match=r"mask '.*b\.png' is 20x20 but its image '.*b\.jpg' is 30x20"):
        _folder(tmp_path / "size").setup()

    _pair(tmp_path / "ids", "a", (20, 30), good)
    _pair(tmp_path / "ids", "c", (20, 30), np.full((20, 30), 7))
    with pytest.raises(DataError, match=r"mask '.*c\.png' holds unknown class id 7") as e:
        _folder(tmp_path / "ids").setup()
    assert "\n" not in str(e.value)

    (tmp_path / "ids" / "masks" / "c.png").unlink()
    with pytest.raises(DataError, match=r"image '.*c\.jpg' has no mask"):
        _folder(tmp_path / "ids").setup()


def test_pet_trimaps_map_to_classes_and_real_sets_never_download(tmp_path):
    path = tmp_path / "trimap.png"
    Image.fromarray(np.array([[1, 2, 3]], np.uint8), "L").save(path)
    assert read_mask(path, 3, 255, PET_LUT).tolist() == [[1, 0, 2]]
    Image.fromarray(np.array([[1, 4]], np.uint8), "L").save(path)
    with pytest.raises(DataError, match="holds unknown class id 4"):
        read_mask(path, 3, 255, PET_LUT)
    for source in ("voc", "pet"):
        with pytest.raises(DataError, match=f"{source} not found under data.root.*download=true"):
            SegData(source, 3, 32, 21, batch_size=2, steps=1, seed=0, root=str(tmp_path)).setup()


@pytest.mark.slow
def test_end_to_end_through_a_real_trainer():
    pl.seed_everything(0, verbose=False)
    dm = small_data(steps=3)
    module = small_module()
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False, max_epochs=1, accelerator="cpu")
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 3
    metrics = {**module.initial_metrics, **module.finish()}
    for k in ("miou", "pixel_acc", "miou_init", "majority_acc", "majority_miou", "val_loss"):
        assert math.isfinite(metrics[k]) and metrics[k] >= 0, k
    assert 0 < metrics["majority_acc"] < 1 and metrics["majority_miou"] < metrics["majority_acc"]
    grid = module.final.grids["decoded"]
    assert grid.dtype == torch.uint8 and grid.ndim == 3 and grid.shape[0] == 3
    assert grid.shape[2] > 3 * 32  # image | ground truth | prediction side by side


def test_config_composes_and_instantiates_as_train_does():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["model=seg", "scaling=imagenet", "head=sigmoid",
                                          "data.image_size=32", "data.n_train=16", "data.n_val=8",
                                          "data.mosaic.texture_size=64", "model.module.net.norm=none"])
        voc = compose("train", overrides=["model=seg", "data=voc"])
    assert cfg.data.source == "mosaic" and voc.data.source == "voc"
    assert voc.data.n_classes == 21 and voc.data.image_size == 48
    cfg.steps = 2
    model, data = build_run(cfg)  # as harness.run.runs builds every run
    assert isinstance(model, SegModule) and model.head.name == "sigmoid"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.net.modules())
    assert model.net(model.scaling.encode(data.train_images[:2])).shape == (2, 5, 32, 32)


def _run(tmp_path, *overrides):
    from harness.run.runs import run

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=[*SEG_FAST, f"paths.log_dir={tmp_path}/logs", f"paths.results_dir={tmp_path}/results", *overrides])
    return run(cfg, tmp_path / "run")


@pytest.mark.slow
def test_a_real_run_records_metrics_overlays_and_tensorboard(tmp_path):
    rec = _run(tmp_path, "scaling=raw", "head=sigmoid", "model.module.net.norm=none")
    assert rec["status"] == "ok", rec["message"]
    m = rec["metrics"]
    assert 0 <= m["miou"] <= 1 and 0 <= m["pixel_acc"] <= 1 and "iou_c4" in m
    assert {"miou_init", "majority_miou", "majority_acc"} <= set(m)
    assert (tmp_path / "run" / "samples_decoded.png").stat().st_size > 100
    tags = tb_tags(tmp_path / "logs")
    assert {"seg/eval/miou", "seg/eval/pixel_acc", "seg/train/loss"} <= tags["scalars"]
    assert "seg/samples/decoded" in tags["images"] and "seg/hist/head_output" in tags["histograms"]


def test_a_skipped_head_is_recorded_as_skipped(tmp_path):
    rec = _run(tmp_path, "head=tanh", "logger=none")
    assert rec["status"] == "skipped" and rec["family"] == "seg"
    assert rec["message"] == ("head 'tanh' has no meaning for seg class scores "
                              "(valid: identity, sigmoid)")


@pytest.mark.slow
def test_sigmoid_on_class_scores_is_no_range_mismatch(tmp_path):
    # sigmoid cannot reach raw pixels, but a seg head acts on class scores, not pixels
    rec = _run(tmp_path, "head=sigmoid", "scaling=raw", "logger=none", "steps=2")
    assert rec["status"] == "ok" and rec["range_mismatch"] is False


def _signal(scaling, norm, init, dm):
    torch.manual_seed(0)
    net = UNet(3, n_classes=5, depth=3, width=8, norm=norm, init=init)
    m = SegModule(net, scaling=make_scaling(scaling, 3), head=get_head("identity"), n_classes=5,
                  lr=1e-3, ignore_index=255, n_overlay=16, **FAMILY_ARGS)
    m.use_data(dm)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = m.input_signal()
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # untouched
    return out


def test_he_init_keeps_the_input_signal_for_every_scaling_and_batchnorm_cancels_its_scale():
    """Without norm, PyTorch's default init lets under 1% of the input's std reach the class
    scores (measured 0.2-1%); He init (the default there) keeps 0.4-1.1x of it for every
    scaling, within a factor of 3 of each other. With BatchNorm the input-driven scores are the
    same whatever the scaling."""
    dm = small_data()
    scalings = ("raw", "unit", "symmetric", "imagenet")
    he = [_signal(s, "none", "auto", dm)["signal_gain"] for s in scalings]
    assert min(he) > 0.2 and max(he) / min(he) < 3  # measured 0.40-1.11
    default = [_signal(s, "none", "pytorch", dm)["signal_gain"] for s in scalings]
    assert max(default) < 0.02 and max(default) < min(he) / 20  # measured 0.0019-0.0096
    bn = [_signal(s, "batch", "auto", dm)["logit_signal"] for s in scalings]
    assert max(bn) - min(bn) < 0.01 * max(bn)  # measured 0.439-0.440
    with pytest.raises(ValueError, match="model.module.net.init='he' is not accepted"):
        UNet(3, n_classes=5, depth=3, width=8, norm="none", init="he")
