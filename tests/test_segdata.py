"""Segmentation sources through one registry and one image reader; batches keep each image
with its own mask."""
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.images import DataError
from harness.data.seg import SOURCES, SegData


def _seg(source="mosaic", **kw) -> SegData:
    args = dict(channels=3, image_size=16, n_classes=3, batch_size=4, steps=3, seed=0,
                n_train=12, n_val=4, mosaic={"texture_size": 32})
    return SegData(source, **{**args, **kw})


def test_an_unknown_source_lists_the_registry():
    assert list(SOURCES) == ["mosaic", "voc", "pet", "folder"]
    with pytest.raises(DataError, match="^unknown data source 'cityscapes'; valid choices: "
                                        "mosaic, voc, pet, folder$"):
        _seg("cityscapes")


def test_batches_pair_every_image_with_its_own_mask():
    dm = _seg(channels=1, steps=6)
    dm.setup()
    assert dm.train_images.shape == (12, 1, 16, 16) and dm.val_masks.shape == (4, 16, 16)
    flat = dm.train_images.flatten(1)
    for x, m in dm.train_dataloader():
        for xi, mi in zip(x, m):
            k = int((flat == xi.flatten()).all(1).nonzero()[0])
            assert torch.equal(mi, dm.train_masks[k])


def _pairs(root, images):
    for d in ("images", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for stem, image in images.items():
        Image.fromarray(image).save(root / "images" / f"{stem}.png")
        mask = Image.fromarray(np.zeros(image.shape[:2], np.uint8), "L")
        mask.save(root / "masks" / f"{stem}.png")


def test_folder_images_go_through_the_shared_reader(tmp_path):
    grey = np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1))
    _pairs(tmp_path, {f"p{i}": grey for i in range(4)})
    dm = _seg("folder", root=str(tmp_path), n_val=1, batch_size=2)
    dm.setup()
    assert dm.train_images.shape == (3, 3, 16, 16) and dm.val_images.shape == (1, 3, 16, 16)
    assert all(torch.equal(dm.train_images[:, c], dm.train_images[:, 0]) for c in (1, 2))
    assert dm.train_images[0, 0, 0].tolist() == grey[0].tolist()
    (tmp_path / "images" / "p3.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"^1 of 4 image/mask pairs under '.*' cannot be read: "
                                        r"images/p3\.png \(UnidentifiedImageError\); ") as e:
        _seg("folder", root=str(tmp_path), n_val=1, batch_size=2).setup()
    assert "\n" not in str(e.value)


def _messy_pairs(root):
    """Four good pairs (one image smaller than 16 px), an unreadable image, an unreadable mask,
    and macOS's hidden files beside them."""
    _pairs(root, {f"p{i}": np.full((20 if i else 8, 20, 3), 40 * i, np.uint8) for i in range(6)})
    (root / "images" / "p4.png").write_bytes(b"not a png")
    (root / "masks" / "p5.png").write_bytes(b"not a png")
    (root / "images" / "._p0.png").write_bytes(b"macOS resource fork")
    (root / "images" / ".DS_Store").write_bytes(b"\0")


def test_an_unreadable_image_or_mask_is_named_with_the_rest_in_one_line(tmp_path):
    _messy_pairs(tmp_path)
    with pytest.raises(DataError) as e:
        _seg("folder", root=str(tmp_path), batch_size=2).setup()
    assert str(e.value).startswith(
        f"2 of 6 image/mask pairs under '{tmp_path}' cannot be read: images/p4.png "
        "(UnidentifiedImageError), masks/p5.png (UnidentifiedImageError); accepted: ")
    assert str(e.value).endswith("; set data.skip_unreadable=true to train without them")
    assert "._p0" not in str(e.value) and "DS_Store" not in str(e.value)


def test_skip_unreadable_leaves_out_the_whole_pair(tmp_path, caplog):
    _messy_pairs(tmp_path)
    dm = _seg("folder", root=str(tmp_path), batch_size=2, n_val=1, skip_unreadable=True)
    with caplog.at_level(logging.INFO, logger="harness"):
        dm.setup()
    assert len(dm.train_images) == len(dm.train_masks) == 3 and len(dm.val_images) == 1
    assert sorted(dm.train_images[:, 0, 0, 0].tolist() + dm.val_images[:, 0, 0, 0].tolist()) \
        == [0, 40, 80, 120]  # p0..p3, never p4 or p5
    assert f"data: 4 image/mask pairs loaded from '{tmp_path}', 2 skipped (unreadable), " \
           "1 upscaled from smaller than 16 px" in caplog.messages


def test_folder_source_needs_a_root_and_two_pairs(tmp_path):
    with pytest.raises(DataError, match="^data.root must be set for source 'folder'$"):
        _seg("folder").setup()
    _pairs(tmp_path, {"only": np.zeros((8, 8, 3), np.uint8)})
    with pytest.raises(DataError, match="needs at least 2 image/mask pairs"):
        _seg("folder", root=str(tmp_path)).setup()
