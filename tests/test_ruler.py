"""The recognisability ruler (``harness.metrics.ruler``) and the article's whole-batch stretch.

One classifier is trained per module (32 px, cached in a temporary folder) and shared; the
margins in the comments were measured with it."""

import pytest
import torch

from harness.metrics import digit_net, labelled, ruler
from harness.data.sources import ImageData, hold_out
from harness.metrics.visuals import stretch_grid, stretch_per_image
from helpers import ROOT

SIZE = 32


threads = digit_net.torch_threads  # n torch threads inside, the caller's count given back


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(network, record, cache file, cache folder) of the 32 px classifier, trained here."""
    cache = tmp_path_factory.mktemp("data")
    net, info, path = digit_net.load_classifier(SIZE, cache)
    return net, info, path, cache


@pytest.fixture(scope="module")
def halves():
    """The held-out digits in two halves: KID's reference and the real samples measured."""
    images, labels = labelled.held_out(SIZE)
    return images[:224], images[224:], labels


@pytest.fixture(scope="module")
def measure(halves):
    """The ruler against the first half of the held-out digits: the repository's cached one
    (data/ruler/, as the runs of the other tests use it; trained once where it is missing), so
    the fast tier does not train one of its own; the slow tests train theirs (``trained``)."""
    return ruler.Ruler(digit_net.load_classifier(SIZE, ROOT / "data")[0], halves[0])


# ----------------------------------------------------------------------------- fast
def test_stretch_grid_values():
    x = torch.tensor([2, 3, 8, 5, 2, 8], dtype=torch.uint8).view(2, 1, 1, 3)
    y = stretch_grid(x)
    assert y.dtype == torch.uint8 and y.shape == x.shape
    # one min/max (2, 8) for the batch: (v - 2) * 255 / 6, halves rounded up as bytescale
    assert y.flatten().tolist() == [0, 43, 255, 128, 0, 255]  # 42.5 -> 43, 127.5 -> 128
    # per image the second one (5, 2, 8) would be stretched on its own: not so here
    assert stretch_per_image(x)[1].flatten().tolist() == [128, 0, 255]
    floats = torch.tensor([-1.0, 0.0, 1.0, 0.5]).view(1, 1, 2, 2)  # a head's raw outputs
    assert stretch_grid(floats).flatten().tolist() == [0, 128, 255, 191]  # 191.25 -> 191
    flat = torch.full((3, 1, 4, 4), 77, dtype=torch.uint8)
    assert torch.equal(stretch_grid(flat), torch.zeros_like(flat))


def test_split_is_the_gan_runs_split():
    """The ruler's held-out digits are the images a GAN run is measured against (default
    data.eval_size, capped at 449) and its training digits are the GAN's training images."""
    data = ImageData("digits", channels=1, image_size=SIZE, batch_size=64, eval_size=512,
                     steps=1, seed=0)
    data.setup()
    images, labels = digit_net.digits(SIZE)
    held, train = hold_out(len(images))
    assert (len(held), len(train)) == (449, 1348)
    assert torch.equal(images[held], data.eval_images)
    assert torch.equal(images[train], data.train_images)
    assert torch.bincount(labels[held], minlength=10).min() >= 30  # every class held out


def test_rejects_wrong_input():
    net = digit_net.initial(digit_net.recipe(SIZE))
    real = labelled.held_out(SIZE)[0][:8]
    measure = ruler.Ruler(net, real)
    for bad in (real.float(), real[:, :, :16, :16], real[:1], real.expand(-1, 3, -1, -1)):
        with pytest.raises(ValueError, match="uint8"):
            measure(bad)


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_held_out_accuracy(trained, halves):
    net, info, path, _ = trained
    assert info["loaded"] is False and info["held_out_accuracy"] >= 0.97  # measured 0.9889
    held, _ = labelled.held_out(SIZE)
    assert digit_net.accuracy(net, held, halves[2]) == pytest.approx(info["held_out_accuracy"])
    # its training time is recorded, not enforced (a loaded machine took 61 s, an idle one 9 s)
    assert info["train_seconds"] > 0


@pytest.mark.slow
def test_second_load_uses_the_cache(trained):
    net, info, path, cache = trained
    assert path.is_file() and path.parent == cache / "ruler"
    assert path.name == f"digits-{SIZE}px-{digit_net.recipe_key(info['recipe'])}.pt"
    rng = torch.get_rng_state()
    again, info2, path2 = digit_net.load_classifier(SIZE, cache)
    assert path2 == path and info2["loaded"] is True  # read from the file, not trained again
    assert info2["held_out_accuracy"] == info["held_out_accuracy"]
    a, b = net.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's RNG is left alone
    with threads(2):  # a two-thread caller gets the same file: the ruler trains on one
        assert digit_net.load_classifier(SIZE, cache)[2] == path


def test_the_ruler_trains_on_one_thread_and_gives_the_callers_count_back(monkeypatch):
    seen = []
    monkeypatch.setattr(digit_net, "_train", lambda r, root, options: seen.append(
        (torch.get_num_threads(), r["threads"])) or ("net", {}))
    with threads(2):
        assert digit_net.train(SIZE) == ("net", {})
        assert torch.get_num_threads() == 2
    assert seen == [(1, 1)]


@pytest.mark.slow
def test_real_digits_recognised_noise_not(measure, halves):
    real = halves[1]
    m = measure(real)
    assert m == measure(real)  # KID's subsets are drawn with a fixed seed
    assert m["confident"] >= 0.93 and m["coverage"] == 10  # measured 0.969, 10
    assert m["coverage_frac"] == 1.0 and m["entropy"] > 0.95  # measured 0.987
    assert abs(m["kid"]) < 0.15  # measured 0.031 (kid_std 0.052)
    g = torch.Generator().manual_seed(1)
    noise = measure(torch.randint(0, 256, real.shape, dtype=torch.uint8, generator=g))
    assert noise["confident"] <= 0.05 and noise["coverage"] <= 2  # measured 0.0, 0
    assert noise["kid"] > 1.0 and noise["kid"] > 10 * abs(m["kid"])  # measured 2.82: ~90x


@pytest.mark.slow
def test_dimmed_batch_recognised_only_when_stretched(measure, halves):
    """The article's trap: a batch at a tenth of the brightness reads as digits once the
    saver stretches it, and not as a user gets it."""
    real = halves[1]
    dim = (real.float() * 0.1).round().to(torch.uint8)  # 0..26
    decoded, article = measure(dim), measure(stretch_grid(dim))
    assert article["confident"] >= 0.93 and article["coverage"] == 10  # measured 0.960, 10
    assert article["kid"] < 0.15  # measured 0.031
    assert decoded["confident"] <= 0.5 and decoded["coverage"] <= 5  # measured 0.036, 2
    assert decoded["kid"] > 1.0  # measured 1.33
    assert article["confident"] - decoded["confident"] > 0.5  # measured 0.92
    assert decoded["kid"] > 10 * article["kid"]  # measured ~40x


@pytest.mark.slow
def test_48px_classifier():
    """The article's DCGAN works at 48 px: the same recipe trains there too (in the
    repository's cache the studies and the other tests share: trained once per fresh clone)."""
    net, info, path = digit_net.load_classifier(48, ROOT / "data")
    assert path.name.startswith("digits-48px-") and path.is_file()
    assert info["held_out_accuracy"] >= 0.97  # measured 0.9889
    held = labelled.held_out(48)[0]
    assert ruler.Ruler(net, held[:224])(held[224:])["confident"] >= 0.93  # measured 0.969


@pytest.mark.slow
def test_mode_collapse_shows_as_coverage(measure, halves):
    """Real digits of one class: each recognised, but one class of ten, far from the set."""
    threes = halves[1][halves[2][224:] == 3]
    m = measure(threes)
    assert len(threes) >= 20 and m["confident"] >= 0.9  # measured 29 images, 0.966
    assert m["coverage"] == 1 and m["coverage_frac"] == 0.1 and m["entropy"] == 0.0
    assert m["kid"] > 1.0  # measured 5.0: one class of ten is far from all ten


@pytest.mark.slow
def test_blank_batches_are_not_digits(measure, halves):
    """What an untrained or collapsed generator decodes to (all black under raw + identity):
    a plain classifier called such a batch 100% one digit."""
    for level in (0, 40, 255):
        m = measure(torch.full(halves[1].shape, level, dtype=torch.uint8))
        assert m["confident"] == 0 and m["coverage"] == 0, (level, m)
        assert m["kid"] > 1.0, (level, m)  # measured 1.52 (black) to 2.82


def _fake_mnist(root, images, labels):
    """torchvision's MNIST files (uncompressed idx) under ``root``/MNIST/raw, train and test."""
    import struct

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    x = images[:, 0].numpy().astype("uint8")
    for split in ("train", "t10k"):
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            struct.pack(">iiii", 2051, len(x), 28, 28) + x.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(
            struct.pack(">ii", 2049, len(x)) + labels.numpy().astype("uint8").tobytes())


@pytest.mark.slow
def test_mnist_on_disk_gets_its_own_ruler_and_a_gan_run_reports_it(tmp_path):
    """Where MNIST is present (here: the digits written in its file format, since tests never
    download), the ruler trains on its labels and a GAN run on it records recognisability."""
    from harness.run.runs import run
    from helpers import make_cfg

    images, labels = labelled.labelled("digits", 28)[:2]
    _fake_mnist(tmp_path / "mnist", images, labels)
    root = str(tmp_path / "mnist")
    got, got_labels = labelled.labelled("mnist", 32, root)[:2]
    assert got.shape == (1797, 1, 32, 32) and torch.equal(got_labels, labels)
    net, info, path = digit_net.load_classifier(32, tmp_path / "cache", "mnist", root)
    assert path.name.startswith("mnist-32px-") and info["recipe"]["max_train"] == digit_net.MAX_TRAIN
    assert info["held_out_accuracy"] >= 0.95
    rec = run(make_cfg(tmp_path, "data=mnist", f"data.root={root}", "steps=2", "logger=none",
                       f"model.module.ruler_dir={tmp_path / 'cache'}"), tmp_path / "run")
    assert rec["status"] == "ok", rec["message"]
    assert {"kid", "confident", "coverage", "kid_article", "confident_real"} <= set(rec["metrics"])
    assert rec["metrics"]["confident_real"] > 0.9


def test_one_embedding_per_measurement_gives_torchmetrics_kid(measure, halves):
    """The samples are embedded once for KID and the classifier, the reference once per ruler;
    KID is what torchmetrics gives with the classifier's features as its extractor, bit for bit."""
    from torchmetrics.image.kid import KernelInceptionDistance

    class Features(torch.nn.Module):  # the classifier as KID's feature extractor
        def forward(self, x):
            return measure.net.embed(x) / measure.net.feature_scale

    real = halves[1]
    kid = KernelInceptionDistance(feature=Features(), subsets=measure.subsets,
                                  subset_size=min(measure.subset_size, len(real)))
    kid.update(measure.reference, real=True)
    kid.update(real, real=False)
    with threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(measure.seed)
        want = tuple(v.item() for v in kid.compute())
    calls = []
    hook = measure.net.body.register_forward_hook(lambda *a: calls.append(len(a[1][0])))
    try:
        measure.reference_features  # noqa: B018 - embedded on first use, then kept
        calls.clear()
        m = measure(real)
    finally:
        hook.remove()
    assert calls == [len(real)]  # one forward pass over the samples, none over the reference
    assert (m["kid"], m["kid_std"]) == want
    assert measure.classify(real)["confident"] == m["confident"]


@pytest.mark.slow
def test_a_collapse_onto_one_real_digit_is_not_recognised(measure, halves):
    """64 copies of one real digit are each confidently a digit; ``recognised`` (confident x
    the entropy of the confident classes) scores them 0, and 64 different real digits high."""
    real = halves[1]
    one = real[int((digit_net.predict(measure.net, real).max(1).values >= 0.9).nonzero()[0])]
    copies = measure(one.expand(64, -1, -1, -1).contiguous())
    different = measure(real[:64])
    assert copies["confident"] == 1.0 and copies["coverage"] == 1
    assert copies["recognised"] == 0.0
    assert different["recognised"] >= 0.85  # measured 0.918 (32 px)
    assert measure(real)["recognised"] >= 0.9  # measured 0.961


@pytest.mark.slow
def test_tiled_textures_are_not_digits(measure, halves):
    """What a generator stuck on one local pattern makes: a small patch repeated."""
    g = torch.Generator().manual_seed(3)
    m = measure(digit_net.tiles(64, SIZE, g, halves[1]))
    assert m["confident"] <= 0.05 and m["recognised"] <= 0.05  # measured 0.0
    assert m["kid"] > 1.0  # measured 2.64


def test_the_ruler_card_names_its_sets():
    """``python -m harness.metrics.ruler``: the known answers, printed as a table."""
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert ruler.main(["32"]) == 0
    text = out.getvalue()
    assert "held-out accuracy 0.9" in text
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in
            text.splitlines() if line.startswith("| 64") or line.startswith("| real")}
    assert float(rows["64 copies of one real digit"][3].rstrip(" |")) == 0.0
    assert float(rows["real digits"][3].rstrip(" |")) >= 0.9
