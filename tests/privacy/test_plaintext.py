"""Decrypted copies (export builds, playbacks) that a killed process left in the spool are removed
once they are an hour old; everything else in the spool is left alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

from privacy import plaintext_dir, remove_stale_plaintext
from recordings import RecordingsConfig


def test_only_stale_decrypted_folders_are_removed(tmp_path: Path) -> None:
    config = RecordingsConfig(master_key=bytes(32), spool_dir=tmp_path / "spool")
    hours_ago = time.time() - 2 * 3600
    left_by_a_crash = [plaintext_dir(config), plaintext_dir(config, prefix=".playback-")]
    for folder in left_by_a_crash:
        (folder / "recording.webm").write_bytes(b"plaintext")
        os.utime(folder, (hours_ago, hours_ago))
    in_use = plaintext_dir(config, prefix=".playback-")
    spooled_call = config.spool_dir / "2026" / "11"
    spooled_call.mkdir(parents=True)
    os.utime(config.spool_dir / "2026", (hours_ago, hours_ago))
    not_a_folder = config.spool_dir / ".export-note"
    not_a_folder.write_text("a file, not ours")
    os.utime(not_a_folder, (hours_ago, hours_ago))

    assert remove_stale_plaintext(config) == 2
    assert not any(folder.exists() for folder in left_by_a_crash)
    assert in_use.is_dir() and spooled_call.is_dir() and not_a_folder.is_file()
    assert remove_stale_plaintext(config) == 0


def test_a_missing_spool_is_nothing_to_do(tmp_path: Path) -> None:
    assert remove_stale_plaintext(RecordingsConfig(master_key=bytes(32), spool_dir=tmp_path / "none")) == 0
