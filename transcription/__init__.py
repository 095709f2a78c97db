"""Transcription: the Whisper engine, transcript formats, PII redaction and the transcription job.

Nothing here yet: transcription arrives with the worker issue."""
