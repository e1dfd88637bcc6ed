"""Image sources: uint8 in, clear one-line errors for bad input."""
import numpy as np
import pytest
import torch
from PIL import Image

from harness.data import DataError, ImageData, load_images, resize_uint8


def test_digits_are_uint8_upsampled_with_full_range():
    x = load_images("digits", channels=1, image_size=32)
    assert x.dtype == torch.uint8 and x.shape == (1797, 1, 32, 32)
    assert int(x.min()) == 0 and int(x.max()) == 255
    rgb = load_images("digits", channels=3, image_size=48, limit=10)
    assert rgb.shape == (10, 3, 48, 48) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_resize_crops_the_centre_of_a_wide_image():
    x = torch.zeros(1, 1, 10, 20, dtype=torch.uint8)
    x[..., 5:15] = 255  # a bright centre square
    y = resize_uint8(x, 10)
    assert y.shape == (1, 1, 10, 10) and int(y.min()) == 255


def _write(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def test_folder_reads_grey_and_rgb_recursively(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path / "a.png", rng.integers(0, 256, (40, 30, 3), dtype=np.uint8), "RGB")
    _write(tmp_path / "sub" / "b.jpg", rng.integers(0, 256, (20, 20), dtype=np.uint8), "L")
    rgb = load_images("folder", channels=3, image_size=16, root=str(tmp_path))
    grey = load_images("folder", channels=1, image_size=16, root=str(tmp_path))
    assert rgb.shape == (2, 3, 16, 16) and grey.shape == (2, 1, 16, 16)
    assert rgb.dtype == grey.dtype == torch.uint8


def test_missing_path_unreadable_image_and_bad_channels_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match=r"data.root '.*nowhere' is not a directory"):
        load_images("folder", channels=3, image_size=16, root=str(tmp_path / "nowhere"))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"cannot read image '.*broken.png'") as e:
        load_images("folder", channels=3, image_size=16, root=str(tmp_path))
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="data.channels must be 1 or 3, got 2"):
        load_images("digits", channels=2, image_size=32)
    with pytest.raises(DataError, match="unknown data source 'svhn'; valid choices: digits"):
        load_images("svhn", channels=1, image_size=32)


def test_torchvision_sets_never_download_unless_asked(tmp_path):
    with pytest.raises(DataError, match="mnist not found under data.root.*data.download=true"):
        load_images("mnist", channels=1, image_size=32, root=str(tmp_path))


def test_train_stream_is_exactly_steps_batches_and_eval_split_is_fixed():
    dm = ImageData("digits", 1, 32, batch_size=16, eval_size=100, steps=7, seed=3)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert len(batches) == 7 and all(b[0].shape == (16, 1, 32, 32) for b in batches)
    assert batches[0][0].dtype == torch.uint8
    other = ImageData("digits", 1, 32, batch_size=16, eval_size=100, steps=7, seed=4)
    other.setup()
    assert torch.equal(dm.eval_images, other.eval_images)  # one ruler for every seed
    assert not torch.equal(batches[0][0], next(iter(other.train_dataloader()))[0])
