"""Style content through one registry, crops cut where their uniforms say, style images through
the shared reader."""
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.images import DataError
from harness.data.style import CONTENT, StyleData, cut_crops, load_style


def test_crops_are_cut_where_their_uniforms_say():
    photos = [torch.arange(60, dtype=torch.uint8).view(2, 5, 6),
              torch.zeros(2, 4, 4, dtype=torch.uint8)]
    u = [[0.0, 0.0, 0.0], [0.49, 0.99, 0.99], [0.5, 0.5, 0.5], [0.99, 0.99, 0.99]]
    x = cut_crops(photos, u, 3)
    assert x.shape == (4, 2, 3, 3) and x.dtype == torch.uint8
    assert torch.equal(x[0], photos[0][:, :3, :3])  # first photo, top-left
    assert torch.equal(x[1], photos[0][:, 2:, 3:])  # first photo, bottom-right (3 x 4 positions)
    assert int(x[2:].max()) == 0  # the second photo


def test_an_unknown_content_lists_the_registry():
    assert list(CONTENT) == ["bundled", "folder"]
    with pytest.raises(DataError, match="^unknown content source 'web'; valid choices: "
                                        "bundled, folder$"):
        StyleData(steps=1, seed=0, content="web")
    with pytest.raises(DataError, match="^data.root must be set for content 'folder'$"):
        StyleData(steps=1, seed=0, content="folder").setup()


def test_folder_content_holds_out_whole_photos(tmp_path):
    for name, colour in (("a", (255, 0, 0)), ("b", (0, 255, 0)), ("c", (0, 0, 255))):
        Image.fromarray(np.full((40, 50, 3), colour, np.uint8)).save(tmp_path / f"{name}.png")
    dm = StyleData(steps=4, seed=0, content="folder", root=str(tmp_path), crop_size=8,
                   batch_size=4, eval_size=3, photo_size=16, style_size=16)
    dm.setup()
    assert dm.eval_images.shape == (3, 3, 8, 8)
    assert dm.eval_images[:, 2].eq(255).all() and dm.eval_images[:, :2].eq(0).all()  # c held out
    seen = {tuple(x[:, :, 0, 0].tolist()[i]) for x in dm.train_dataloader() for i in range(4)}
    assert seen == {(255, 0, 0), (0, 255, 0)}


def test_unreadable_content_is_named_at_once_or_skipped(tmp_path, caplog):
    for name in ("a", "b", "c"):
        Image.fromarray(np.full((40, 50, 3), 9, np.uint8)).save(tmp_path / f"{name}.png")
    for name in ("x.png", "y.jpg"):
        (tmp_path / name).write_bytes(b"not an image")
    kw = dict(steps=1, seed=0, content="folder", root=str(tmp_path), crop_size=8, batch_size=2,
              eval_size=1, photo_size=16, style_size=16)
    with pytest.raises(DataError, match=r"^2 of 5 images under '.*' cannot be read: x\.png "
                                        r"\(UnidentifiedImageError\), y\.jpg "
                                        r"\(UnidentifiedImageError\); accepted: .*; set "
                                        r"data.skip_unreadable=true to train without them$"):
        StyleData(**kw).setup()
    dm = StyleData(**kw, skip_unreadable=True)
    with caplog.at_level(logging.INFO, logger="harness"):
        dm.setup()
    assert len(dm.train_photos) == 2  # a, b; c held out
    assert any(m.startswith("data: 3 images loaded") for m in caplog.messages)


def test_a_style_file_is_read_at_the_asked_channels(tmp_path):
    grey = np.tile(np.arange(20, dtype=np.uint8) * 10, (20, 1))
    Image.fromarray(grey, "L").save(tmp_path / "s.png")
    rgb, one = load_style(str(tmp_path / "s.png"), 10), load_style(str(tmp_path / "s.png"), 10, 1)
    assert rgb.shape == (1, 3, 10, 10) and one.shape == (1, 1, 10, 10)
    assert torch.equal(rgb[:, :1], one) and torch.equal(rgb[:, 1:2], one)
    with pytest.raises(DataError, match=r"^style image '.*nope\.png' not found \(give an image "
                                        r"file or a bundled texture: brick, grass, gravel\)$"):
        load_style(str(tmp_path / "nope.png"), 10)
