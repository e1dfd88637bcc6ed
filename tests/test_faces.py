"""The cartoon faces (``data=faces``) without the network: a small tarball of the npm package's
layout (a few RGBA PNGs, an ``emoji.json``), made here, fetched through ``data.faces.archive``,
checked, kept, loaded; a corrupt or other tarball, other files and a missing npm are one line
each."""
import base64
import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data import faces
from harness.data.images import DataError
from harness.data.sources import ImageData, hold_out
from helpers import ROOT, run_cli

PACKAGE = "emoji-datasource-google@16.0.0"


def _png(colour, size=64) -> bytes:
    """An RGBA disc of ``colour`` on a transparent square."""
    a = np.zeros((size, size, 4), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    a[disc] = (*colour, 255)
    out = io.BytesIO()
    Image.fromarray(a, "RGBA").save(out, format="PNG")
    return out.getvalue()


def _emoji(i, category, sub, variants=0):
    base = f"1F{600 + i:03X}"
    e = {"unified": base, "image": f"{base.lower()}.png", "category": category,
         "subcategory": sub, "sort_order": i, "has_img_google": True}
    if variants:
        e["skin_variations"] = {f"1F3F{k}": {"unified": f"{base}-1F3F{k}", "has_img_google": True,
                                             "image": f"{base.lower()}-1f3f{k}.png"}
                                for k in range(variants)}
    return e


@pytest.fixture()
def tarball(tmp_path):
    """(path, integrity) of a small package: 12 faces and people (3 of them with 2 skin-tone
    variants each: 18 kept images), one flag that is left out, the licence."""
    meta = [_emoji(i, "Smileys & Emotion", "face-smiling") for i in range(6)]
    meta += [_emoji(6 + i, "People & Body", "person-gesture", variants=2 * (i < 3))
             for i in range(6)]
    meta.append(_emoji(20, "Flags", "country-flag"))
    files = {"package/emoji.json": json.dumps(meta).encode(), "package/LICENSE": b"MIT\n",
             "package/README.md": b"not kept\n"}
    rng = np.random.default_rng(0)
    for e in meta:
        names = [e["image"]] + [v["image"] for v in (e.get("skin_variations") or {}).values()]
        for name in names:
            files[f"package/img/google/64/{name}"] = _png(tuple(rng.integers(0, 256, 3)))
    path = tmp_path / "emoji-datasource-google-16.0.0.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    digest = base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    return path, f"sha512-{digest}"


def _options(tarball, root, **kw):
    path, integrity = tarball
    dest = faces.fetch(root, PACKAGE, integrity, path)
    return {"package": PACKAGE, "integrity": integrity, "files": faces.files_digest(dest), **kw}


def test_a_fetched_tarball_keeps_the_faces_alone_and_loads_them_on_white(tmp_path, tarball):
    opts = _options(tarball, tmp_path / "data")
    kept = sorted(p.name for p in faces.faces_dir(tmp_path / "data", PACKAGE).iterdir())
    assert len(kept) == 18 + 2 and "LICENSE" in kept and "emoji.json" in kept
    assert not any("1f614" in k for k in kept)  # the flag (category Flags) is left out
    x = faces.load_faces(str(tmp_path / "data"), False, 3, 48, package=PACKAGE,
                         integrity=opts["integrity"], files=opts["files"])
    assert x.shape == (18, 3, 48, 48) and x.dtype == torch.uint8
    assert (x[:, :, 0, 0] == 255).all()  # a transparent corner, on white
    grey = faces.load_faces(str(tmp_path / "data"), False, 3, 48, False, "grey",
                            package=PACKAGE, integrity=opts["integrity"], files=opts["files"])
    assert (grey[:, :, 0, 0] == 128).all()


def test_the_held_out_split_keeps_each_base_emoji_with_its_variants(tmp_path, tarball):
    opts = _options(tarball, tmp_path / "data")
    data = ImageData("faces", channels=3, image_size=48, batch_size=4, eval_size=512, steps=1,
                     seed=0, root=str(tmp_path / "data"), faces=opts)
    data.setup()
    groups = faces.groups(str(tmp_path / "data"), PACKAGE)
    held, rest = hold_out(len(groups), 512, groups)
    assert len(held) + len(rest) == 18 and 0 < len(held) <= 18 // 4
    assert not {groups[i] for i in held.tolist()} & {groups[i] for i in rest.tolist()}
    assert len(data.eval_images) == len(held) and len(data.train_images) == len(rest)


def test_a_corrupt_or_other_tarball_is_one_line(tmp_path, tarball):
    path, integrity = tarball
    bad = tmp_path / "bad.tgz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"is not emoji-datasource-google@16.0.0: its sha512 is "):
        faces.fetch(tmp_path / "data", PACKAGE, integrity, bad)
    with pytest.raises(DataError, match="is not emoji-datasource-google@16.0.0"):
        faces.fetch(tmp_path / "data", PACKAGE, faces_integrity(), path)  # the real pin
    assert not faces.faces_dir(tmp_path / "data", PACKAGE).exists()  # nothing half kept
    opts = _options(tarball, tmp_path / "data")
    with pytest.raises(DataError, match=r"are not the set data.faces.files names \(digest "):
        faces.load_faces(str(tmp_path / "data"), False, 3, 48, package=PACKAGE,
                         integrity=opts["integrity"], files="0123456789ab")


def test_kept_files_that_are_not_the_pinned_set_are_one_line_before_any_work(tmp_path, tarball):
    """Checked with the settings (``not_fetched``), so a bad set is refused before a finished run
    of another config in the run's folder is set aside."""
    root = tmp_path / "data"
    pinned = _options(tarball, root)
    data = {"source": "faces", "root": str(root), "faces": pinned}
    assert faces.not_fetched(data) is None
    line = faces.not_fetched({**data, "faces": {**pinned, "files": "0123456789ab"}})
    assert line.startswith(f"the files under '{faces.faces_dir(root, PACKAGE)}' are not the set "
                           f"data.faces.files names (digest {pinned['files']}, not 0123456789ab)")
    next(faces.faces_dir(root, PACKAGE).glob("*.png")).write_bytes(_png((1, 2, 3)))  # edited
    assert "are not the set data.faces.files names" in faces.not_fetched(data)


def faces_integrity() -> str:
    return faces.pinned_settings()["integrity"]


def test_without_npm_or_the_network_one_line_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(faces.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"npm is not installed: apt-get install npm, or fetch "
                                        r"the tarball elsewhere and give data.faces.archive="):
        faces.fetch(tmp_path / "data", PACKAGE, faces_integrity())
    with pytest.raises(DataError, match="data.faces.archive='/nope.tgz' is not a file"):
        faces.fetch(tmp_path / "data", PACKAGE, faces_integrity(), "/nope.tgz")


def test_a_second_fetch_of_the_pinned_set_needs_no_npm(tmp_path, tarball, monkeypatch):
    """``make faces`` again, offline: the kept files are the pinned set, so nothing is fetched;
    files that are not are fetched again."""
    root = tmp_path / "data"
    pinned = _options(tarball, root)
    monkeypatch.setattr(faces.shutil, "which", lambda name: None)  # npm would be refused
    dest, fetched = faces.ensure(root, PACKAGE, pinned["integrity"], pinned["files"])
    assert dest == faces.faces_dir(root, PACKAGE) and not fetched
    with pytest.raises(DataError, match="npm is not installed"):
        faces.ensure(root, PACKAGE, pinned["integrity"], "another0set0")


def test_make_faces_says_why_it_fetches_again_and_names_its_archive_option(tmp_path, tarball,
                                                                          monkeypatch, capsys):
    root = tmp_path / "data"
    _options(tarball, root)  # kept, but not the set conf/data/faces.yaml pins
    monkeypatch.setattr(faces.shutil, "which", lambda name: None)
    assert faces.main(["--root", str(root)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"the files under '{faces.faces_dir(root, PACKAGE)}' are not the "
                             f"set data.faces.files names") and err[0].endswith(
                                 ": fetching them again")
    assert err[1].startswith("error: data=faces needs emoji-datasource-google@16.0.0 and npm is "
                             "not installed")
    assert faces.main(["--root", str(root), "--archive", "/nope.tgz"]) == 2
    assert capsys.readouterr().err == ("error: ARCHIVE=/nope.tgz is not a file "
                                       "(emoji-datasource-google@16.0.0's tarball, fetched "
                                       "elsewhere)\n")


def test_the_fetch_hint_names_the_command_for_its_folder():
    assert faces.how_to_fetch(None, PACKAGE).startswith("run `make faces` (npm pack")
    assert faces.how_to_fetch("/x/d", PACKAGE).startswith(
        "run `python -m harness.data.faces --root /x/d` (npm pack emoji-datasource-google@16.0.0 "
        "into /x/d/faces)")


def test_faces_settings_do_nothing_for_another_source():
    with pytest.raises(DataError, match="data.faces does nothing here: it is the faces source's "
                                        "own settings, and data.source is digits"):
        ImageData("digits", 1, 32, 8, 16, 1, 0, faces={"package": PACKAGE})


@pytest.mark.slow
def test_the_command_line_says_how_to_fetch_them_before_any_work(tmp_path):
    r = run_cli("model=gan_article", "data=faces", "steps=5", f"paths.data_dir={tmp_path}/data",
                f"hydra.run.dir={tmp_path}/run", cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: the faces are not under '{tmp_path}/data/faces/emoji-datasource-google-16.0.0':"
        f" run `python -m harness.data.faces --root {tmp_path}/data` (npm pack "
        f"emoji-datasource-google@16.0.0 into {tmp_path}/data/faces),"
        " or add data.download=true; without npm: apt-get install npm, or fetch the tarball "
        "elsewhere and give data.faces.archive=/path/to/emoji-datasource-google-16.0.0.tgz"]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_other_files_leave_a_finished_run_of_another_config_where_it_is(tmp_path, tarball):
    pinned = _options(tarball, tmp_path / "data")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    finished = json.dumps({"status": "ok", "config": {"steps": 7}, "metrics": {"swd": 1.0}})
    (run_dir / "run.json").write_text(finished)
    r = run_cli("model=gan_article", "data=faces", "steps=5", f"paths.data_dir={tmp_path}/data",
                "data.faces.files=0123456789ab", f"hydra.run.dir={run_dir}", cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: the files under '{tmp_path}/data/faces/emoji-datasource-google-16.0.0' are not "
        f"the set data.faces.files names (digest {pinned['files']}, not 0123456789ab): delete "
        f"the folder and fetch it again (run `python -m harness.data.faces --root "
        f"{tmp_path}/data` (npm pack emoji-datasource-google@16.0.0 into {tmp_path}/data/faces),"
        " or add data.download=true; without npm: apt-get install npm, or fetch the tarball "
        "elsewhere and give data.faces.archive=/path/to/emoji-datasource-google-16.0.0.tgz)"]
    assert (run_dir / "run.json").read_text() == finished
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]  # nothing set aside


@pytest.mark.slow
def test_a_gan_trains_on_the_faces_fetched_from_an_archive(tmp_path, tarball):
    """``data.faces.archive`` fetches on first use, the run trains on what it kept, and measures
    KID with a ruler trained on the faces' subcategories."""
    from harness.run.runs import run
    from helpers import make_cfg

    path, integrity = tarball
    probe = _options(tarball, tmp_path / "probe")  # the fake set's files digest
    cfg = make_cfg(tmp_path, "model=gan_article", "data=faces", "model.width=0.0625",
                   "data.batch_size=4", "data.eval_size=4", "steps=3", "eval_every=0",
                   "logger=none", "scaling=raw", "head=identity", f"paths.data_dir={tmp_path}/d",
                   f"data.faces.archive={path}", f"data.faces.integrity='{integrity}'",
                   f"data.faces.files={probe['files']}", fast=False)
    rec = run(cfg, tmp_path / "run")
    assert rec["status"] == "ok", rec.get("message")
    assert rec["config"]["data"]["faces"]["files"] == probe["files"]
    # the faces ruler (a class per subcategory, trained here on the training split): KID alone
    m = rec["metrics"]
    assert m["kid"] > 0 and "kid_article" in m and "confident" not in m and "recognised" not in m
    assert list((tmp_path / "d" / "ruler").glob("faces-48px-*.pt"))
    assert (faces.faces_dir(tmp_path / "d", PACKAGE) / "emoji.json").is_file()


def test_the_faces_ruler_card_gives_its_kid_a_scale(tmp_path, tarball):
    """``python -m harness.metrics.ruler faces``: real faces against real ones, and the flat
    images a generator starts from or sticks at, so a run's KID on the faces can be read."""
    from harness.metrics.ruler import faces_card

    card = faces_card(48, tmp_path / "d", tmp_path / "f", _options(tarball, tmp_path / "f"))
    assert 0 <= card.pop("accuracy") <= 1
    assert list(card) == ["real faces", "64 different real faces", "64 copies of one real face",
                          "64 black images", "64 mid-grey images",
                          "64 images of the faces' mean colour", "64 white images"]
    assert card["64 black images"] > card["real faces"] + 0.5, card
