"""The benchmark's held-out sentences stay held out: no test speaks them, so that tuning the
pipeline until the tests pass cannot tune it to the benchmark (bench/transcribe.py)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def normalised(text: str) -> str:
    return " ".join(re.findall(r"[^\W\d_]+", text.lower()))


def test_no_test_speaks_a_held_out_sentence() -> None:
    sentences = [
        line.strip()
        for path in sorted((REPO / "bench" / "heldout").glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(sentences) >= 40, "12 or so per language: nl, de, fr, en"
    tests = {path: normalised(path.read_text(encoding="utf-8")) for path in (REPO / "tests").rglob("*.py")}
    for sentence in sentences:
        # Most of a sentence is enough to count: a test may drop its first or last words.
        words = normalised(sentence).split()
        core = " ".join(words[1:-1]) if len(words) > 4 else " ".join(words)
        used = [str(path.relative_to(REPO)) for path, text in tests.items() if core in text]
        assert not used, f"{sentence!r} is held out for the benchmark but spoken in {used}"
