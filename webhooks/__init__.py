"""Signed outgoing webhooks: endpoints per organisation, events enqueued as rows, signatures.

Events: ``call.ended``, ``recording.stored``, ``transcript.ready``, ``data.erased``. Code that
makes one happen calls ``enqueue_event`` inside its own transaction, so the delivery rows
exist exactly when the change they report was committed; the worker sends them
(``webhooks.delivery``).

Each request is a POST of a JSON body::

    {"id": "<idempotency key>", "event": "call.ended", "created_at": "<ISO 8601>", "data": {...}}

with the headers ``Loket-Event``, ``Loket-Idempotency-Key`` (the same on every retry of one
delivery), ``Loket-Delivery-Attempt`` (1, 2, ...) and ``Loket-Signature: t=<unix seconds>,v1=<hex>``,
where ``v1`` is HMAC-SHA256 keyed with the endpoint's secret (the whole ``whsec_...`` string,
UTF-8) over ``f"{t}.{raw body}"``, as Stripe does. A receiver verifies it so::

    import hashlib, hmac, time

    def verify(secret: str, header: str, raw_body: bytes, tolerance: int = 300) -> bool:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
        expected = hmac.new(secret.encode(), f"{t}.".encode() + raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - t) <= tolerance

Use the raw bytes as received, not re-encoded JSON; refuse old timestamps (replays); keep the
idempotency keys of handled deliveries for longer than the retries run (about 8 hours at the
defaults) and answer 2xx to a repeat. Any answer but 2xx, a redirect included, is retried.

Payloads carry no visitor data. They also leave out the call's **reference code**: that
code is the visitor's key to erasing and exporting their call (``/privacy/requests``), so
handing it to every integration would let a third party act on the visitor's data and tie
its own records to the visitor's privacy requests. The call id is enough to correlate, and
staff who need the reference read it from ``/api/v1/calls``.
"""

from webhooks.config import WebhookConfig
from webhooks.delivery import WebhookSender, deliver_pending, webhook_http_session
from webhooks.endpoints import (
    MAX_URL_LENGTH,
    change_endpoint,
    check_url,
    create_endpoint,
    delete_endpoint,
    endpoint_deliveries,
    is_public_address,
    refused_host,
    reveal_secret,
)
from webhooks.events import enqueue_event
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.signing import SECRET_PREFIX, request_body, sign, verify_signature

__all__ = [
    "MAX_URL_LENGTH",
    "SECRET_PREFIX",
    "DeliveryStatus",
    "WebhookConfig",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookSender",
    "change_endpoint",
    "check_url",
    "create_endpoint",
    "delete_endpoint",
    "deliver_pending",
    "endpoint_deliveries",
    "enqueue_event",
    "is_public_address",
    "refused_host",
    "request_body",
    "reveal_secret",
    "sign",
    "verify_signature",
    "webhook_http_session",
]
