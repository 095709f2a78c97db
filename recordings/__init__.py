"""Recordings: storage backends (local, S3), per-recording encryption, catalogue, retention and erasure.

Nothing here yet: recording arrives with the media issue."""
