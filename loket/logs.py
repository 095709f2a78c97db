"""Log lines as text or as JSON (``LOKET_LOG_FORMAT=json``), never with personal data.

A JSON line is one object: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``node`` (this process's node id: ``LOKET_MEDIA_NODE_ID`` or the host name), ``process``
(``serve``, ``worker`` or ``media``), ``event`` and ``call_id`` when the line is about one
(``signaling.metrics`` logs the call lifecycle with both; a message that names ``call <id>``
gives its id too), the other fields the code passed in ``extra``, and ``exception``.

Loket's code logs ids and figures, never a reference, a visitor's address or a name (STYLE.md).
As a second line of defence every string that leaves here is scrubbed of what looks like an IP
address (v4 or v6), a reference code (``XXXXX-XXXXX``) or an e-mail address, whoever logged it
(a library's message included).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])")
# Two or more hex groups joined by colons with a "::" or eight groups: IPv6, not a clock time.
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"
    r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?(?![\w:])"
)
# signaling.reference: ten symbols of Crockford's base32 shown as XXXXX-XXXXX.
_REFERENCE = re.compile(r"(?<![\w-])[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}(?![\w-])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CALL_ID = re.compile(r"\bcall ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    """``text`` without anything that looks like an address, a reference or an e-mail."""
    text = _EMAIL.sub("[email]", text)
    text = _REFERENCE.sub("[reference]", text)
    text = _IPV4.sub("[ip]", text)
    return _IPV6.sub("[ip]", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module doc)."""

    def __init__(self, *, node: str, process: str) -> None:
        super().__init__()
        self._node = node
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(message),
            "node": self._node,
            "process": self._process,
            "event": None,
            "call_id": None,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = _clean(value)
        if line["call_id"] is None and (named := _CALL_ID.search(message)):
            line["call_id"] = named.group(1)
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(
    *,
    verbose: bool = False,
    log_format: str = "text",
    node: str = "",
    process: str = "",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log line to ``stream`` (stderr) as text or JSON; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(node=node, process=process))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)
    return handler
