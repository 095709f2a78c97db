"""Fixtures shared with other test packages."""

# A call of a fresh organisation, deleted with its recordings afterwards (tests/loket/test_worker.py).
from tests.recordings.conftest import call_id  # noqa: F401
