"""(e) ICE ports: the UDP port range and public address of the server's candidates.

aioice binds each host candidate to port 0 of every local address
(``Connection.get_component_candidates``: ``local_addr=(address, 0)``); neither aioice 0.13
nor aiortc takes a port range or an address announced for a NAT. A media node in a
container or behind a firewall publishes one fixed UDP range, and visitors must be given
the address that range is published on: :func:`bind_ice_candidates`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import inspect
import ipaddress
import logging
import secrets
import socket

from aioice import Candidate, Connection
from aioice import ice as aioice_ice
from aioice import turn as aioice_turn
from aioice.candidate import candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection
from aiortc.rtcicetransport import RTCIceGatherer

from media._aiortc_hooks.internals import _source
from media.errors import AiortcInternalsError, IcePortsExhausted

logger = logging.getLogger(__name__)

# Set on an aioice Connection whose gathering :func:`bind_ice_candidates` took over.
_ICE_HOOKED = "_loket_ice_ports"


def bind_ice_candidates(
    pc: RTCPeerConnection, *, udp_ports: tuple[int, int] | None, public_address: str | None
) -> None:
    """Make ``pc``'s coming ICE gathering bind within ``udp_ports`` and announce ``public_address``.

    Call it after ``setRemoteDescription`` (which creates the transports, and drops those that
    BUNDLE merges) and before ``setLocalDescription`` (which gathers); transports that gathered
    already are left alone, so calling it again on a renegotiation is harmless.

    *Ports.* Each host candidate is bound to a free port of ``udp_ports`` (first, last), tried
    from a random one onwards, as aioice would bind port 0; then, as aioice does, a STUN server
    gives server-reflexive candidates and a TURN server a relayed one. A range with no free port
    left on an address raises :class:`~media.errors.IcePortsExhausted` from the gathering.

    *Public address.* For each host candidate of its IP version, a server-reflexive candidate
    (RFC 8445 section 5.1.1.2) with ``public_address`` and the host candidate's port: what a STUN
    server would report for a node behind a 1:1 NAT or a published port range. The host
    candidates stay, for peers on the node's own network (coturn, in docker-compose).

    Relies on ``RTCIceGatherer._connection`` (the aioice ``Connection``) and on
    ``Connection.gather_candidates`` awaiting ``self.get_component_candidates(component=...,
    addresses=...)``, which we replace on this one connection; the host candidates are made as
    aioice makes them (``StunProtocol``, appended to ``Connection._protocols``).
    """
    if udp_ports is None and public_address is None:
        return
    check_ice_ports_internals()
    for gatherer in _ice_gatherers(pc):
        connection = gatherer._connection
        if gatherer.state != "new" or getattr(connection, _ICE_HOOKED, False):
            continue
        setattr(connection, _ICE_HOOKED, True)
        gathering = _RangedGathering(connection, udp_ports=udp_ports, public_address=public_address)
        connection.get_component_candidates = gathering  # type: ignore[method-assign]


def _ice_gatherers(pc: RTCPeerConnection) -> list[RTCIceGatherer]:
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    gatherers: dict[int, RTCIceGatherer] = {}
    for dtls in transports:
        gatherer = dtls.transport.iceGatherer
        gatherers[id(gatherer)] = gatherer
    return list(gatherers.values())


class _RangedGathering:
    """Stands in for one ``Connection.get_component_candidates`` (see :func:`bind_ice_candidates`)."""

    def __init__(
        self, connection: Connection, *, udp_ports: tuple[int, int] | None, public_address: str | None
    ) -> None:
        self._connection = connection
        self._aioice_gathering = connection.get_component_candidates
        self._udp_ports = udp_ports
        self._public_address = public_address

    async def __call__(self, component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:
        if self._udp_ports is None:
            candidates = await self._aioice_gathering(
                component=component, addresses=addresses, timeout=timeout
            )
        else:
            protocols = [
                protocol
                for address in addresses
                if (protocol := await self._bind(component, address, self._udp_ports)) is not None
            ]
            # Without host addresses aioice only allocates the TURN relay (if it has a server).
            relayed, reflexive = await asyncio.gather(
                self._aioice_gathering(component=component, addresses=[], timeout=timeout),
                self._server_reflexive(protocols, timeout),
            )
            candidates = [protocol.local_candidate for protocol in protocols] + reflexive + relayed
        if self._public_address is not None:
            candidates += _announced(candidates, self._public_address)
        return candidates

    async def _bind(
        self, component: int, address: str, udp_ports: tuple[int, int]
    ) -> aioice_ice.StunProtocol | None:
        loop = asyncio.get_running_loop()
        first, last = udp_ports
        size = last - first + 1
        start = secrets.randbelow(size)
        connection = self._connection
        for offset in range(size):
            port = first + (start + offset) % size
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: aioice_ice.StunProtocol(connection), local_addr=(address, port)
                )
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    continue
                # As aioice: an address that cannot be bound at all gives no candidate.
                logger.info("ICE: cannot bind to %s: %s", address, exc)
                return None
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice_turn.UDP_SOCKET_BUFFER_SIZE)
            host, bound_port = transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=bound_port,
                type="host",
            )
            connection._protocols.append(protocol)
            return protocol
        logger.error(
            "ICE: every UDP port of %d-%d is taken on %s (LOKET_MEDIA_UDP_PORTS)", first, last, address
        )
        raise IcePortsExhausted("this media server has no free UDP port left for another connection")

    async def _server_reflexive(
        self, protocols: list[aioice_ice.StunProtocol], timeout: int
    ) -> list[Candidate]:
        stun_server = self._connection.stun_server
        if stun_server is None:
            return []
        tasks = [
            asyncio.create_task(aioice_ice.server_reflexive_candidate(protocol, stun_server))
            for protocol in protocols
            if ipaddress.ip_address(protocol.local_candidate.host).version == 4  # as aioice: IPv4 only
        ]
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [task.result()[0] for task in done if task.exception() is None]


def _announced(candidates: list[Candidate], public_address: str) -> list[Candidate]:
    version = ipaddress.ip_address(public_address).version
    known = {(c.host, c.port) for c in candidates}
    return [
        Candidate(
            foundation=candidate_foundation("srflx", "udp", host.host),
            component=host.component,
            transport=host.transport,
            priority=candidate_priority(host.component, "srflx"),
            host=public_address,
            port=host.port,
            type="srflx",
            related_address=host.host,
            related_port=host.port,
        )
        for host in candidates
        if host.type == "host"
        and ipaddress.ip_address(host.host).version == version
        and (public_address, host.port) not in known
    ]


@functools.cache
def _verify_ice_ports() -> None:
    problems: list[str] = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    gatherer = RTCIceGatherer(iceServers=[])
    connection = getattr(gatherer, "_connection", None)
    expect(isinstance(connection, Connection), "RTCIceGatherer._connection (an aioice Connection)")
    expect(
        "self._connection.gather_candidates()" in _source(RTCIceGatherer.gather),
        "RTCIceGatherer.gather awaiting self._connection.gather_candidates()",
    )
    expect(
        "self.get_component_candidates(component=component, addresses=addresses)"
        in _source(Connection.gather_candidates),
        "Connection.gather_candidates calling self.get_component_candidates(component=, addresses=)",
    )
    component_candidates = getattr(Connection, "get_component_candidates", None)
    expect(
        inspect.iscoroutinefunction(component_candidates)
        and list(inspect.signature(component_candidates).parameters)
        == ["self", "component", "addresses", "timeout"],
        "Connection.get_component_candidates(self, component, addresses, timeout) (async)",
    )
    body = _source(component_candidates)
    expect(
        "local_addr=(address, 0)" in body and "self._protocols += host_protocols" in body,
        "Connection.get_component_candidates binding port 0 per address into self._protocols",
    )
    expect(
        "for address in addresses" in body and "if self.turn_server" in body,
        "Connection.get_component_candidates: host candidates per address, then TURN",
    )
    expect(isinstance(getattr(connection, "_protocols", None), list), "Connection._protocols (a list)")
    expect(hasattr(connection, "stun_server"), "Connection.stun_server")
    expect(
        "local_candidate" in getattr(aioice_ice.StunProtocol, "__annotations__", {}),
        "aioice.ice.StunProtocol.local_candidate",
    )
    reflexive = getattr(aioice_ice, "server_reflexive_candidate", None)
    expect(
        inspect.iscoroutinefunction(reflexive)
        and list(inspect.signature(reflexive).parameters) == ["protocol", "stun_server"],
        "aioice.ice.server_reflexive_candidate(protocol, stun_server) (async)",
    )
    expect(
        isinstance(getattr(aioice_turn, "UDP_SOCKET_BUFFER_SIZE", None), int),
        "aioice.turn.UDP_SOCKET_BUFFER_SIZE",
    )
    if problems:
        raise AiortcInternalsError(
            "aioice/aiortc lack internals that media/_aiortc_hooks/ice_ports.py relies on: "
            + "; ".join(problems)
        )


def check_ice_ports_internals() -> None:
    """Raise :class:`~media.errors.AiortcInternalsError` naming every aioice or aiortc internal
    that :func:`bind_ice_candidates` relies on and that changed (cached after the first call)."""
    _verify_ice_ports()
