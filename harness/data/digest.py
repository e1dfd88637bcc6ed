"""What the user's own files were when a run read them: a config names a folder, not what is in
it, so a run over a folder whose images were replaced would otherwise be taken for the earlier
one and reused. The digest enters the run's config (``data_digest``), hence its config key.

Bundled and published sets (digits, torchvision's) are fixed by their name: no digest.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

SMALL = 64 * 2**20  # bytes: a set up to this size is read whole; a larger one by name, size, mtime


def user_paths(data: dict) -> list[Path]:
    """The user's own files and folders a data config reads (``data.root`` of source or
    content ``folder``; a style image given as a path)."""
    paths = []
    if data.get("root") and "folder" in (data.get("source"), data.get("content")):
        paths.append(Path(str(data["root"])).expanduser())
    style = data.get("style")
    if isinstance(style, str) and Path(style).expanduser().is_file():
        paths.append(Path(style).expanduser())
    return paths


def data_digest(data: dict) -> str | None:
    """12 hex digits of the user's files a data config reads (None: it reads none). Every file
    under them counts: its name, and its content where the set is small, else size and mtime."""
    paths = user_paths(data)
    if not paths:
        return None
    try:
        stats = tuple((str(f), f.relative_to(p).as_posix(), f.stat().st_size, f.stat().st_mtime_ns)
                      for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")))
                      if f.is_file())
        return _digest(stats)
    except OSError:  # unreadable: the data module says which file, in its own words
        return None


@functools.lru_cache(maxsize=16)
def _digest(stats: tuple) -> str:
    """The digest of the files ``stats`` lists; computed once per listing in a process (a
    sweep asks for each job's)."""
    h = hashlib.sha1()
    whole = sum(size for _, _, size, _ in stats) <= SMALL
    for path, name, size, mtime in stats:
        h.update(f"{name}\0{size}\0".encode())
        h.update(Path(path).read_bytes() if whole else str(mtime).encode())
    return h.hexdigest()[:12]
