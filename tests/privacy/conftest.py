"""Fixtures of the privacy suites (the SQLite and PostgreSQL ``sessions`` come from tests/conftest.py):
the recordings suites' storage backends (local and S3 on SeaweedFS) and master key, and an
organisation to seed."""

from tests.privacy.seeding import org  # noqa: F401
from tests.recordings.conftest import (  # noqa: F401
    bucket,
    config,
    master_key,
    s3,
    s3_endpoint,
    storage,
)
