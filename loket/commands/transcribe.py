"""``loket transcribe FILE``: a local media file transcribed the way the worker does."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from db import LoketError
from loket.commands._common import _settings


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--format", "output_format", type=click.Choice(["json", "vtt"]), default="json", show_default=True
)
@click.option("--language", default=None, help="Language spoken: nl, de, fr, en, ... (default: detected).")
@click.option("--no-redact", is_flag=True, help="Keep phone numbers, e-mail addresses, IBANs and plates.")
@click.option(
    "--model",
    default=None,
    help="Model for every language: base, tiny.en, a name or a directory (default: LOKET_WHISPER_MODEL(S)).",
)
def transcribe(
    file: Path, output_format: str, language: str | None, no_redact: bool, model: str | None
) -> None:
    """Transcribe a local media file the way the worker does; prints the transcript."""
    import dataclasses
    import os

    # Models are never downloaded at run time; this keeps the Hugging Face client offline too.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transcription import WhisperEngine, to_json, to_vtt, transcribe_file

    if not file.exists():
        raise click.ClickException(f"no such file: {file}")
    if not file.is_file():
        raise click.ClickException(f"not a regular file: {file}")
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # stderr is for the one-line error; progress notes only with --verbose.
        for name in ("faster_whisper", "transcription"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        config = _settings().whisper()
        if model:
            config = dataclasses.replace(config, models={"*": model})
        transcript = asyncio.run(
            transcribe_file(file, config, WhisperEngine(config), language=language, redact=not no_redact)
        )
    except LoketError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(to_json(transcript) if output_format == "json" else to_vtt(transcript), nl=False)
