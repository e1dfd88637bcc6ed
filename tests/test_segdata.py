"""Segmentation sources through one registry and one image reader; batches keep each image
with its own mask."""
import numpy as np
import pytest
import torch
from PIL import Image

from harness.data import DataError
from harness.segdata import SOURCES, SegData


def _seg(source="mosaic", **kw) -> SegData:
    args = dict(channels=3, image_size=16, n_classes=3, batch_size=4, steps=3, seed=0,
                n_train=12, n_val=4, texture_size=32)
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
    with pytest.raises(DataError, match=r"^cannot read image '.*p3\.png': ") as e:
        _seg("folder", root=str(tmp_path), n_val=1, batch_size=2).setup()
    assert "\n" not in str(e.value)


def test_folder_source_needs_a_root_and_two_pairs(tmp_path):
    with pytest.raises(DataError, match="^data.root must be set for source 'folder'$"):
        _seg("folder").setup()
    _pairs(tmp_path, {"only": np.zeros((8, 8, 3), np.uint8)})
    with pytest.raises(DataError, match="needs at least 2 image/mask pairs"):
        _seg("folder", root=str(tmp_path)).setup()
