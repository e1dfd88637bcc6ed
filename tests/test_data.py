"""Image sources and the training stream: uint8 in, one-line errors for bad input, and batches
that depend on (seed, sample position) only."""
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import FOLDER_CONFIGS, make_cfg
from PIL import Image

from harness.data.images import DataError, resize_uint8
from harness.data.sources import ImageData, load_images
from harness.data.stream import stream_rows
from harness.data.images import read_image
from harness.data.seg import SegData
from harness.data.style import StyleData


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


def test_read_image_converts_to_the_asked_channels(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    _write(tmp_path / "g.png", grey, "L")
    x = read_image(tmp_path / "g.png", 3)
    assert x.dtype == torch.uint8 and x.shape == (1, 3, 3, 4)
    assert all(x[0, c].tolist() == grey.tolist() for c in range(3))
    assert read_image(tmp_path / "g.png", 1)[0, 0].tolist() == grey.tolist()


def test_missing_path_unreadable_image_and_bad_channels_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match=r"data.root '.*nowhere' is not a directory"):
        load_images("folder", channels=3, image_size=16, root=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="^data.root must be set for source 'folder'$"):
        load_images("folder", channels=3, image_size=16)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"^1 of 1 images under '.*' cannot be read: broken\.png "
                                        r"\(UnidentifiedImageError\); accepted: \.bmp, .*\.png.* "
                                        r"files of 8-bit .*; none is left to train on$") as e:
        load_images("folder", channels=3, image_size=16, root=str(tmp_path))
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match=r"^cannot read image '.*broken.png': UnidentifiedImageError"
                                        r" \(expected an image file: \.bmp, .*\.png"):
        read_image(bad, 3)
    with pytest.raises(DataError, match="data.channels must be 1 or 3, got 2"):
        load_images("digits", channels=2, image_size=32)
    with pytest.raises(DataError, match="^unknown data source 'svhn'; valid choices: digits, "
                                        "colour_digits, faces, folder, mnist, fashion_mnist, cifar10$"):
        load_images("svhn", channels=1, image_size=32)


# ------------------------------------------------------------------------- 16-bit and odd modes
GRADIENT = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))  # 0..65535 along a row
SIXTEEN_BIT = {  # mode -> (file name, the image PIL writes)
    "I;16": ("g.png", lambda: Image.fromarray(GRADIENT)),
    "I;16B": ("g.tif", lambda: Image.frombytes("I;16B", (256, 16), GRADIENT.astype(">u2").tobytes())),
    "I": ("g.tif", lambda: Image.fromarray(GRADIENT.astype(np.int32))),
}


@pytest.mark.parametrize("mode", SIXTEEN_BIT)
def test_16_bit_grey_is_scaled_to_0_255_not_clipped(tmp_path, mode):
    name, make = SIXTEEN_BIT[mode]
    make().save(tmp_path / name)
    with Image.open(tmp_path / name) as im:
        assert im.mode == mode
    for channels in (1, 3):
        x = read_image(tmp_path / name, channels)
        assert x.dtype == torch.uint8 and x.shape == (1, channels, 16, 256)
        assert abs(x.float().mean().item() - 127.5) <= 1
        assert int(x.min()) == 0 and int(x.max()) == 255
        assert bool((x[0, :, :, 1:] >= x[0, :, :, :-1]).all())  # monotone along every row
        assert x[0, 0, 0].tolist() == np.rint(GRADIENT[0] / 257).astype(int).tolist()


@pytest.mark.parametrize("array, why", [
    (np.full((4, 4), 0.5, np.float32), r"mode F holds floating-point pixels with no fixed "
                                       r"0\.\.255 scale"),
    (np.arange(16, dtype=np.int32).reshape(4, 4) * 5000, r"mode I holds values 0\.\.75000, "
                                                         r"outside 16-bit 0\.\.65535"),
])
def test_pixels_with_no_0_255_scale_are_refused_in_one_line(tmp_path, array, why):
    Image.fromarray(array).save(tmp_path / "x.tif")
    with pytest.raises(DataError, match=rf"^cannot read image '.*x\.tif': {why}; accepted: "
                                        r"8-bit grey, palette or colour, or 16-bit grey "
                                        r"\(scaled to 0\.\.255\)$"):
        read_image(tmp_path / "x.tif", 3)


# --------------------------------------------------------------------- folders with bad files
def _messy_folder(root, n_bad=3):
    """Two good images (one smaller than 16 px), ``n_bad`` corrupt ones, and hidden files."""
    rng = np.random.default_rng(0)
    _write(root / "good.png", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8), "RGB")
    _write(root / "sub" / "small.png", rng.integers(0, 256, (8, 10), dtype=np.uint8), "L")
    for i in range(n_bad):
        (root / f"bad{i}.{'jpg' if i % 2 else 'png'}").write_bytes(b"not an image")
    (root / ".DS_Store").write_bytes(b"\0\1\2")
    (root / "._good.png").write_bytes(b"macOS resource fork")
    (root / ".cache").mkdir()
    (root / ".cache" / "thumb.png").write_bytes(b"not an image either")


def test_a_folder_is_scanned_whole_and_every_unreadable_file_named_in_one_line(tmp_path):
    _messy_folder(tmp_path)
    with pytest.raises(DataError) as e:
        load_images("folder", channels=3, image_size=16, root=str(tmp_path))
    msg = str(e.value)
    assert msg == (f"3 of 5 images under '{tmp_path}' cannot be read: bad0.png "
                   "(UnidentifiedImageError), bad1.jpg (UnidentifiedImageError), bad2.png "
                   "(UnidentifiedImageError); accepted: .bmp, .gif, .jpeg, .jpg, .png, .tif, "
                   ".tiff, .webp files of 8-bit grey, palette or colour, or 16-bit grey (scaled "
                   "to 0..255); set data.skip_unreadable=true to train without them")
    assert "DS_Store" not in msg and "._good" not in msg and "thumb" not in msg


def test_more_unreadable_files_than_shown_are_counted(tmp_path):
    _messy_folder(tmp_path, n_bad=5)
    with pytest.raises(DataError, match=r"^5 of 7 images .*: bad0\.png .*, bad1\.jpg .*, bad2\.png "
                                        r"\(UnidentifiedImageError\) and 2 more; accepted"):
        load_images("folder", channels=3, image_size=16, root=str(tmp_path))


def test_skip_unreadable_trains_without_them_and_the_log_counts_everything(tmp_path, caplog):
    _messy_folder(tmp_path)
    dm = ImageData("folder", 3, 16, batch_size=2, eval_size=0, steps=1, seed=0,
                   root=str(tmp_path), skip_unreadable=True)
    with caplog.at_level(logging.INFO, logger="harness"):
        dm.setup()
    assert dm.train_images.shape == (2, 3, 16, 16)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"3 of 5 images under '{tmp_path}' cannot be read: bad0.png")
    assert warning.endswith("; training without them (data.skip_unreadable=true)")
    assert f"data: 2 images loaded from '{tmp_path}', 3 skipped (unreadable), 1 upscaled from " \
           "smaller than 16 px" in caplog.messages


@pytest.mark.parametrize("overrides", FOLDER_CONFIGS)
def test_every_folder_config_offers_skip_unreadable_off_by_default(tmp_path, overrides):
    from harness.run.fit import build

    assert make_cfg(tmp_path, *overrides, fast=False).data.skip_unreadable is False
    cfg = make_cfg(tmp_path, *overrides, "data.skip_unreadable=true", fast=False)
    build(cfg.data, steps=1, seed=0, chunk=0)  # its data module takes the key


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


# ------------------------------------------------------------------------------------- stream
def test_stream_rows_are_one_endless_table_however_it_is_sliced():
    def draw(rng):
        return rng.permutation(5)
    table = stream_rows(7, 0, 23, 5, draw)
    for b in range(4):  # every block is a pass: each index once
        assert sorted(table[5 * b:5 * b + 5].tolist()) == [0, 1, 2, 3, 4]
    assert len({tuple(table[5 * b:5 * b + 5]) for b in range(4)}) > 1  # passes differ
    for start in range(22):
        for stop in range(start + 1, 23):
            assert stream_rows(7, start, stop, 5, draw).tolist() == table[start:stop].tolist()
    assert stream_rows(8, 0, 23, 5, draw).tolist() != table.tolist()


# Small, fast data modules of every family: (seed, steps, chunk[, channels]) -> module.
MODULES = {
    "image": lambda channels=1, **kw: ImageData("digits", channels, 8, batch_size=4,
                                                eval_size=10, limit=60, **kw),
    "seg": lambda channels=3, **kw: SegData("mosaic", channels, 16, n_classes=3, batch_size=4,
                                            n_train=12, n_val=4, mosaic={"texture_size": 32}, **kw),
    "style": lambda channels=3, **kw: StyleData(channels=channels, batch_size=3, eval_size=2,
                                                crop_size=16, style_size=16, photo_size=32, **kw),
}


def run_stream(kind: str, seed: int, steps: int, chunk: int) -> list[torch.Tensor]:
    """Every batch of a run, epoch after epoch, as the Trainer asks for them (first tensor of
    each batch: images). Checks that the global RNG is left alone and the count is ``steps``."""
    dm = MODULES[kind](seed=seed, steps=steps, chunk=chunk)
    dm.setup()
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    batches = []
    for epoch in range(dm.epochs):
        done = SimpleNamespace(epoch_loop=SimpleNamespace(total_batch_idx=len(batches) - 1))
        dm.trainer = SimpleNamespace(current_epoch=epoch, fit_loop=done)  # the batches done
        batches += [b if torch.is_tensor(b) else b[0] for b in dm.train_dataloader()]
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert len(batches) == steps
    return batches


@pytest.mark.parametrize("kind", MODULES)
def test_the_stream_depends_on_seed_and_position_only(kind):
    whole = run_stream(kind, seed=1, steps=9, chunk=0)
    for chunk, epochs in ((3, 3), (7, 2)):
        assert MODULES[kind](seed=1, steps=9, chunk=chunk).epochs == epochs
        cut = run_stream(kind, seed=1, steps=9, chunk=chunk)
        assert all(torch.equal(a, b) for a, b in zip(whole, cut))
    short = run_stream(kind, seed=1, steps=5, chunk=2)
    assert all(torch.equal(a, b) for a, b in zip(whole, short))
    other = run_stream(kind, seed=2, steps=9, chunk=0)
    assert sum(torch.equal(a, b) for a, b in zip(whole, other)) == 0
    assert len({b.float().sum().item() for b in whole}) > 1  # batches differ along the stream


def test_the_image_stream_is_passes_over_the_training_set():
    dm = MODULES["image"](seed=0, steps=30, chunk=0)
    dm.setup()
    n = len(dm.train_images)
    idx = dm.stream(0, 3 * n)
    assert all(sorted(idx[p * n:(p + 1) * n].tolist()) == list(range(n)) for p in range(3))
    (x,) = dm.take(idx[:4])
    assert torch.equal(x, dm.train_images[torch.from_numpy(idx[:4])])


@pytest.mark.parametrize("kind", MODULES)
def test_a_bad_channel_count_stops_every_family_at_construction(kind):
    with pytest.raises(DataError, match="^data.channels must be 1 or 3, got 2$"):
        MODULES[kind](seed=0, steps=1, channels=2)
