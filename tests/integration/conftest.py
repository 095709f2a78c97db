"""Fixtures the integration tests share with the unit suites: real aiortc clients and the
media cluster's settings, nodes and placements (``tests/media``)."""

from tests.media.conftest import media_config, new_client  # noqa: F401 (fixtures)
from tests.media.nodes import (  # noqa: F401 (fixtures)
    media_cluster,
    media_redis,
    media_registry,
    start_node,
    start_placement,
)
