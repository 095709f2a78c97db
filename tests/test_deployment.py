"""The deployment files (docker-compose.yml, deploy/haproxy.cfg, Dockerfile, .env.example, .ci/run) agree with
each other and keep their production promises: every secret is required, TURN cannot reach private networks,
Loket waits for its schema, two signalling nodes sit behind a sticky proxy and two media nodes keep their
internal channel off the host."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

# Settings every Loket process needs in production (docs/architecture.md, "Configuration").
REQUIRED_SETTINGS = (
    "LOKET_ENV",
    "LOKET_DATABASE_URL",
    "LOKET_REDIS_URL",
    "LOKET_STORAGE_URL",
    "LOKET_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "LOKET_SECRET_KEY",
    "LOKET_MASTER_KEY",
    "LOKET_TURN_SECRET",
    "LOKET_PUBLIC_URL",
    "LOKET_ICE_SERVERS",
    "LOKET_MEDIA_SECRET",
)
# Setting -> the compose variable that must feed it, whole, as `${VAR:?message}`.
REQUIRED_FROM = {
    "LOKET_SECRET_KEY": "LOKET_SECRET_KEY",
    "LOKET_MASTER_KEY": "LOKET_MASTER_KEY",
    "LOKET_TURN_SECRET": "LOKET_TURN_SECRET",
    "LOKET_PUBLIC_URL": "LOKET_PUBLIC_URL",
    "AWS_ACCESS_KEY_ID": "MINIO_ROOT_USER",
    "AWS_SECRET_ACCESS_KEY": "MINIO_ROOT_PASSWORD",
    "LOKET_MEDIA_SECRET": "LOKET_MEDIA_SECRET",
}
# Variables with no safe default: every reference must make compose refuse to start without them.
NO_DEFAULT_VARIABLES = (
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "LOKET_SECRET_KEY",
    "LOKET_MASTER_KEY",
    "LOKET_TURN_SECRET",
    "LOKET_PUBLIC_URL",
    "LOKET_TURN_HOST",
    "LOKET_MEDIA_SECRET",
)
SECRET_VARIABLES = (
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "LOKET_SECRET_KEY",
    "LOKET_MASTER_KEY",
    "LOKET_TURN_SECRET",
    "LOKET_MEDIA_SECRET",
)
SIGNALLING_SERVICES = ("serve-a", "serve-b")
MEDIA_SERVICES = ("media-a", "media-b")
LOKET_SERVICES = (*SIGNALLING_SERVICES, *MEDIA_SERVICES, "worker", "migrate")
PROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
# Peers a TURN relay must never reach in production (RFC 1918, loopback, link-local).
PRIVATE_RANGES = (
    ("10.0.0.0", "10.255.255.255"),
    ("172.16.0.0", "172.31.255.255"),
    ("192.168.0.0", "192.168.255.255"),
    ("127.0.0.0", "127.255.255.255"),
    ("169.254.0.0", "169.254.255.255"),
)

# Compose interpolation: `$$` is a literal dollar; `${VAR}`, `${VAR:-default}`, `${VAR:?message}`, `$VAR`.
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


@dataclass(frozen=True, slots=True)
class Reference:
    """One `${...}` in the compose file."""

    name: str
    op: str | None
    arg: str


@dataclass(frozen=True, slots=True)
class Published:
    """One entry of a service's `ports`."""

    host: tuple[int, int] | None
    container: tuple[int, int]
    protocol: str


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _references(text: str) -> list[Reference]:
    found = []
    for match in _INTERPOLATION.finditer(text):
        if match["bare"]:
            found.append(Reference(match["bare"], None, ""))
        elif match["name"]:
            found.append(Reference(match["name"], match["op"], match["arg"] or ""))
    return found


def _all_references(compose: dict[str, Any]) -> list[Reference]:
    return [ref for text in _strings(compose) for ref in _references(text)]


def _substitute(text: str, value: str) -> str:
    return _INTERPOLATION.sub(lambda m: "$" if m[0] == "$$" else value, text)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def _options(args: list[str]) -> list[tuple[str, str | None]]:
    """`--name=value`, `--name value` and `--flag` as (name, value) pairs, in order."""
    options: list[tuple[str, str | None]] = []
    for i, arg in enumerate(args):
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.partition("=")
        if eq:
            options.append((name, value))
        elif i + 1 < len(args) and not args[i + 1].startswith("-"):
            options.append((name, args[i + 1]))
        else:
            options.append((name, None))
    return options


def _port_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _published(service: dict[str, Any]) -> list[Published]:
    result = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            host = _port_range(str(entry["published"])) if entry.get("published") else None
            result.append(Published(host, _port_range(str(entry["target"])), entry.get("protocol", "tcp")))
            continue
        spec, _, protocol = str(entry).partition("/")
        parts = spec.rsplit(":", 2)
        host = _port_range(parts[-2]) if len(parts) >= 2 and parts[-2] else None
        result.append(Published(host, _port_range(parts[-1]), protocol or "tcp"))
    return result


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _ipv4_range(text: str) -> tuple[int, int] | None:
    """`a.b.c.d` or `a.b.c.d-e.f.g.h` as integers; None for IPv6."""
    low, _, high = text.partition("-")
    first, last = ipaddress.ip_address(low), ipaddress.ip_address(high or low)
    return (int(first), int(last)) if first.version == 4 else None


def _dockerfile_final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's last stage, continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _env_example() -> dict[str, str]:
    names = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, eq, value = line.partition("=")
            assert eq, f".env.example: not NAME=value: {line!r}"
            names[name.strip()] = value.strip()
    return names


@pytest.fixture
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def test_compose_uses_the_compose_spec_and_every_service_has_an_image_or_a_build(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert "version" not in compose
    for name, service in services.items():
        assert "image" in service or "build" in service, name


def test_compose_runs_every_production_service(services: dict[str, dict[str, Any]]) -> None:
    expected = {"postgres", "redis", "minio", "coturn", "proxy", "worker", "migrate"}
    expected |= {*SIGNALLING_SERVICES, *MEDIA_SERVICES}
    assert expected <= services.keys()


@pytest.mark.parametrize("name", LOKET_SERVICES)
def test_every_loket_process_gets_every_production_setting(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = _environment(services[name])
    missing = [key for key in REQUIRED_SETTINGS if not env.get(key)]
    assert not missing, f"{name} lacks {missing}"
    assert env["LOKET_ENV"] == "production"
    database = urlsplit(_substitute(env["LOKET_DATABASE_URL"], "x"))
    assert (database.scheme, database.hostname, database.port) == ("postgresql+asyncpg", "postgres", 5432)
    assert urlsplit(env["LOKET_REDIS_URL"]).hostname == "redis"
    assert urlsplit(env["LOKET_STORAGE_URL"]).scheme == "s3"
    assert urlsplit(env["LOKET_S3_ENDPOINT_URL"]).hostname == "minio"


@pytest.mark.parametrize("name", LOKET_SERVICES)
def test_secrets_are_required_so_compose_refuses_to_start_without_them(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = _environment(services[name])
    for setting, variable in REQUIRED_FROM.items():
        assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", env[setting]), (
            f"{name}: {setting} must be ${{{variable}:?message}}, is {env[setting]!r}"
        )
    assert "${POSTGRES_PASSWORD:?" in env["LOKET_DATABASE_URL"]


def test_no_required_variable_has_a_default_anywhere(compose: dict[str, Any]) -> None:
    references = _all_references(compose)
    for variable in NO_DEFAULT_VARIABLES:
        uses = [ref for ref in references if ref.name == variable]
        assert uses, f"{variable} is never used"
        for ref in uses:
            assert ref.op == ":?", f"{variable} used as {ref} (must be ${{VAR:?message}})"
            assert ref.arg.strip(), f"{variable} used as {ref}: say what to set"


def test_ice_servers_are_valid_json_pointing_at_coturn(services: dict[str, dict[str, Any]]) -> None:
    raw = _environment(services["serve-a"])["LOKET_ICE_SERVERS"]
    assert {ref.name for ref in _references(raw)} == {"LOKET_TURN_HOST"}
    servers = json.loads(_substitute(raw, "turn.example.com"))
    urls = [url for server in servers for url in server["urls"]]
    assert "turn:turn.example.com:3478?transport=udp" in urls
    assert "turn:turn.example.com:3478?transport=tcp" in urls
    # Credentials are minted per visitor from LOKET_TURN_SECRET, never configured statically.
    assert not any("credential" in server or "username" in server for server in servers)


@pytest.mark.parametrize("name", SIGNALLING_SERVICES)
def test_signalling_nodes_serve_without_media_or_worker_and_publish_nothing(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    node = services[name]
    args = _command(node)
    options = dict(_options(args))
    assert args[0] == "serve"
    assert ipaddress.ip_address(options["--host"] or "").is_unspecified
    assert "--no-worker" in options
    assert "--no-media" in options
    assert int(options["--port"] or 0) == 8080
    # Reached through the proxy only.
    assert not _published(node), f"{name} publishes {_published(node)}"


def test_the_proxy_publishes_8080_and_routes_to_both_signalling_nodes(
    services: dict[str, dict[str, Any]],
) -> None:
    proxy = services["proxy"]
    assert Published((8080, 8080), (8080, 8080), "tcp") in _published(proxy)
    mounts = [str(volume).split(":") for volume in proxy.get("volumes", [])]
    assert any(Path(source).resolve() == PROXY_CONFIG for source, *_ in mounts), mounts
    assert set(SIGNALLING_SERVICES) <= _depends_on(proxy).keys()
    config = [line.split("#")[0].split() for line in PROXY_CONFIG.read_text().splitlines()]
    servers = {words[2] for words in config if words[:1] == ["server"] and len(words) > 2}
    assert servers == {f"{name}:8080" for name in SIGNALLING_SERVICES}


def test_the_proxy_is_sticky_because_the_clients_may_fall_back_to_polling() -> None:
    socket = (ROOT / "widget" / "src" / "shared" / "socket.ts").read_text()
    polling = re.search(r"transports:\s*\[[^\]]*\"polling\"", socket) is not None
    config = [line.split("#")[0].split() for line in PROXY_CONFIG.read_text().splitlines()]
    balance = next(words[1] for words in config if words[:1] == ["balance"])
    if polling:
        # A hash of the client (or a cookie), never a per-request rotation.
        assert balance == "source" or balance.startswith("hdr(") or any(w[:1] == ["cookie"] for w in config)
    # WebSockets idle between pings for longer than an HTTP timeout.
    assert any(words[:2] == ["timeout", "tunnel"] for words in config)


def test_media_nodes_have_distinct_ids_and_udp_ranges_and_keep_their_channel_internal(
    services: dict[str, dict[str, Any]],
) -> None:
    ids, ranges = set(), []
    for name in MEDIA_SERVICES:
        node = services[name]
        env = _environment(node)
        assert _command(node) == ["media"]
        ids.add(env["LOKET_MEDIA_NODE_ID"])
        assert ipaddress.ip_address(env["LOKET_MEDIA_BIND_HOST"]).is_unspecified
        port = int(env["LOKET_MEDIA_BIND_PORT"])
        internal = urlsplit(env["LOKET_MEDIA_INTERNAL_URL"])
        assert (internal.scheme, internal.hostname, internal.port) == ("http", name, port)
        udp = _port_range(env["LOKET_MEDIA_UDP_PORTS"])
        published = _published(node)
        assert Published(udp, udp, "udp") in published
        ranges.append(udp)
        # The internal channel is never on the host: only the UDP range is published.
        assert all(p.protocol == "udp" for p in published), published
        assert not any(p.container[0] <= port <= p.container[1] for p in published)
        assert "LOKET_MEDIA_PUBLIC_ADDRESS" in env
    assert len(ids) == len(MEDIA_SERVICES)
    (low_a, high_a), (low_b, high_b) = ranges
    assert high_a < low_b or high_b < low_a, f"overlapping UDP ranges {ranges}"
    # Nor with coturn's relay range.
    coturn = dict(_options(_command(services["coturn"])))
    relay = (int(coturn["--min-port"] or 0), int(coturn["--max-port"] or 0))
    assert all(high < relay[0] or relay[1] < low for low, high in ranges)


def test_the_worker_runs_the_worker_and_migrate_upgrades_the_schema(
    services: dict[str, dict[str, Any]],
) -> None:
    assert _command(services["worker"]) == ["worker"]
    assert _command(services["migrate"]) == ["db", "upgrade"]


def test_coturn_publishes_its_listening_port_and_relay_range(services: dict[str, dict[str, Any]]) -> None:
    coturn = services["coturn"]
    options = dict(_options(_command(coturn)))
    published = _published(coturn)
    for protocol in ("udp", "tcp"):
        assert Published((3478, 3478), (3478, 3478), protocol) in published
    relay = (int(options["--min-port"] or 0), int(options["--max-port"] or 0))
    assert Published(relay, relay, "udp") in published


def test_coturn_authenticates_with_loket_s_shared_secret(services: dict[str, dict[str, Any]]) -> None:
    options = _options(_command(services["coturn"]))
    names = [name for name, _ in options]
    assert "--use-auth-secret" in names
    assert "--no-cli" in names
    assert "--realm" in names or "-r" in names
    assert not {"--lt-cred-mech", "--user", "-u", "--no-auth"} & set(names)
    secret = dict(options)["--static-auth-secret"] or ""
    assert [ref.name for ref in _references(secret)] == ["LOKET_TURN_SECRET"]


def test_coturn_denies_private_and_loopback_peers(services: dict[str, dict[str, Any]]) -> None:
    options = _options(_command(services["coturn"]))

    def ranges(option: str) -> list[tuple[int, int]]:
        return [r for name, value in options if name == option and (r := _ipv4_range(value or ""))]

    denied, allowed = ranges("--denied-peer-ip"), ranges("--allowed-peer-ip")
    for low, high in PRIVATE_RANGES:
        first, last = int(ipaddress.IPv4Address(low)), int(ipaddress.IPv4Address(high))
        assert any(lo <= first and last <= hi for lo, hi in denied), f"coturn relays to {low}-{high}"
        # --allowed-peer-ip wins over --denied-peer-ip in coturn: no hole may be punched into these ranges.
        assert not any(lo <= last and first <= hi for lo, hi in allowed), f"a hole in {low}-{high}"


def test_every_dependency_exists_and_waits_for_something_that_can_report_it(
    services: dict[str, dict[str, Any]],
) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, condition in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert condition in conditions, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                check = services[target].get("healthcheck") or {}
                assert check.get("test"), f"{target} has no healthcheck"
                assert not check.get("disable"), f"{target} has its healthcheck disabled"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} is not a one-shot"


@pytest.mark.parametrize("name", [*SIGNALLING_SERVICES, *MEDIA_SERVICES, "worker"])
def test_loket_and_worker_start_after_migrations_and_their_services(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    deps = _depends_on(services[name])
    assert deps["migrate"] == "service_completed_successfully"
    assert deps["postgres"] == "service_healthy"
    assert deps["redis"] == "service_healthy"
    assert _depends_on(services["migrate"])["postgres"] == "service_healthy"


def test_the_recordings_bucket_is_created_where_loket_stores(services: dict[str, dict[str, Any]]) -> None:
    bucket = urlsplit(_environment(services["serve-a"])["LOKET_STORAGE_URL"]).hostname
    script = " ".join(_command(services["minio-init"]))
    assert re.search(rf"\bmc mb\b[^&;]*/{re.escape(bucket or '?')}\b", script), script
    assert "version enable" not in script, "a versioned bucket keeps deleted recordings"


def test_services_without_an_http_server_disable_the_image_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if "build" in service and _command(service)[:1] != ["serve"]:
            assert (service.get("healthcheck") or {}).get("disable") is True, name


def test_the_image_exposes_loket_s_port_and_does_not_run_as_root(services: dict[str, dict[str, Any]]) -> None:
    stage = _dockerfile_final_stage()
    exposed = {
        int(port.split("/")[0]) for keyword, args in stage if keyword == "EXPOSE" for port in args.split()
    }
    listening = {int(dict(_options(_command(services[name])))["--port"] or 0) for name in SIGNALLING_SERVICES}
    assert exposed == listening == {8080}
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the runtime stage has no USER: it runs as root"
    assert users[-1].partition(":")[0] not in {"root", "0"}
    instructions = dict(stage)
    assert json.loads(instructions["ENTRYPOINT"]) == ["loket"]
    cmd = json.loads(instructions["CMD"])
    assert cmd[0] == "serve"
    assert int(dict(_options(cmd))["--port"] or 0) in exposed
    assert "127.0.0.1:8080/healthz" in instructions["HEALTHCHECK"]


def test_env_example_names_every_variable_compose_uses(compose: dict[str, Any]) -> None:
    example = _env_example()
    used = {ref.name for ref in _all_references(compose)}
    assert used - example.keys() == set()
    shipped = {name for name in SECRET_VARIABLES if example.get(name)}
    assert not shipped, f".env.example ships values for {shipped}"


def test_ci_runs_make_test_with_services_required() -> None:
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run is not executable"
    lines = [line.strip() for line in script.read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert "set -euo pipefail" in commands
    assert "make test" in commands
    assert "export LOKET_REQUIRE_SERVICES=1" in commands[: commands.index("make test")]
    subprocess.run(["bash", "-n", str(script)], check=True)
