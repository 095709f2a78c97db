"""Media nodes: the node process's internal server, its registration in Redis, the signed
internal channel, and the ended-event stream that brings calls' ends back to signalling.

``media.remote.RemotePlacement`` places calls on these nodes. Public names only.
"""

from media.node.auth import RequestVerifier, sign
from media.node.client import NodeClient
from media.node.config import ClusterConfig, NodeConfig, valid_id
from media.node.events import EndedEvent, EndedEvents
from media.node.load import CpuLoad
from media.node.node import MediaNode
from media.node.registry import NodeInfo, Registry, least_loaded
from media.node.server import NodeServer

__all__ = [
    "ClusterConfig",
    "CpuLoad",
    "EndedEvent",
    "EndedEvents",
    "MediaNode",
    "NodeClient",
    "NodeConfig",
    "NodeInfo",
    "NodeServer",
    "Registry",
    "RequestVerifier",
    "least_loaded",
    "sign",
    "valid_id",
]
