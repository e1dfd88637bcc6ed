"""A dedicated study's answer, as its hand-written ``findings.md`` states it: the first sentence of
the paragraph that opens with ``**The answer.**``.

A first-look study (``experiment=default``) ranks pairings from a few seeds and a few hundred
steps; its front page quotes these sentences (the study key ``answer``) so that what a new
user reads first is the measured answer, not a ranking its seeds cannot support.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.core.repo import ROOT

MARK = "**The answer.**"
_SENTENCE = re.compile(r"(.+?[.!?])(?=\s+[A-Z(`*]|\s*$)", re.S)  # "0.671" or "e.g." do not end it


def answer_of(path: str | Path) -> str | None:
    """The first sentence of ``path``'s answer paragraph (relative paths: from the repository
    root), on one line; None where the file or the paragraph is missing."""
    file = Path(path) if Path(path).is_absolute() else ROOT / path
    try:
        lines = file.read_text().splitlines()
    except OSError:
        return None
    start = next((i for i, line in enumerate(lines) if line.startswith(MARK)), None)
    if start is None:
        return None
    paragraph = []
    for line in lines[start:]:
        if not line.strip():
            break
        paragraph.append(line.strip())
    text = " ".join(paragraph)[len(MARK):].strip()
    found = _SENTENCE.match(text)
    return (found.group(1) if found else text) or None


def answer_problem(key: str, value) -> str | None:
    """One line where ``answer.<family>`` names no findings file with an answer paragraph."""
    if isinstance(value, str) and answer_of(value) is not None:
        return None
    found = isinstance(value, str) and (ROOT / value).is_file()
    return (f"{key}={value!r} is not accepted: "
            + ("it has no paragraph opening with " + MARK if found else "no such file")
            + f"; give a findings file (from the repository root) with a paragraph opening "
            f"with {MARK}, e.g. {key}=results/raw_pixel_gan/findings.md")
