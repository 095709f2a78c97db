"""Privacy: retention rules and the sweeps that delete on time, call-data expiry, erasure of one
call, the visitor's privacy key, privacy requests, export archives and their receipts.
"""

from privacy.call_data_sweep import sweep_expired_call_data
from privacy.call_keys import (
    CallDataKey,
    call_data_key,
    open_segments,
    open_text,
    open_vtt,
    seal_text,
    seal_transcript,
)
from privacy.dpa import (
    DEFAULT_DPA,
    DpaAcceptance,
    DpaNotAccepted,
    DpaText,
    DpaVersion,
    accept_dpa,
    accept_for_fixture,
    current_dpa,
    dpa_acceptance,
    dpa_accepted_by,
    publish_dpa,
    require_dpa_accepted,
)
from privacy.erasure import CallErasure, erase_call_data
from privacy.export import EXPORT_LIFETIME, expire_exports, fetch_export, org_of
from privacy.keys import PrivacyKey, issue_privacy_key, new_privacy_key, normalise_privacy_key
from privacy.ledger import ErasureReceipt, Replay, append_receipt, read_receipts, replay_erasures
from privacy.models import (
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    RetentionKind,
    RetentionRule,
)
from privacy.plaintext import plaintext_dir, remove_plaintext, remove_stale_plaintext
from privacy.request_worker import process_requests
from privacy.requests import (
    CreatedRequest,
    call_of,
    create_request,
    expire_unmatched,
    find_request,
    org_requests,
)
from privacy.retention import (
    DEFAULT_RETENTION_DAYS,
    ORG_RETENTION_KINDS,
    Retention,
    calls_past_retention,
    recording_deadline,
    resolve_retention,
    retention_for_call,
)
from privacy.rules import (
    change_rule,
    create_rule,
    delete_rule,
    find_rule,
    get_rule,
    list_rules,
    queue_in_org,
    reschedule,
)
from privacy.sweep import sweep_expired, sweep_expired_calls
from privacy.text_sealing import SealedText, seal_plaintext
from privacy.types import DataErased, OnErased

__all__ = [
    "DEFAULT_DPA",
    "DEFAULT_RETENTION_DAYS",
    "EXPORT_LIFETIME",
    "MAX_RETENTION_DAYS",
    "MIN_RETENTION_DAYS",
    "ORG_RETENTION_KINDS",
    "CallDataKey",
    "CallErasure",
    "CreatedRequest",
    "DataErased",
    "DpaAcceptance",
    "DpaNotAccepted",
    "DpaText",
    "DpaVersion",
    "ErasureReceipt",
    "OnErased",
    "PrivacyKey",
    "PrivacyRequest",
    "PrivacyRequestKind",
    "PrivacyRequestStatus",
    "Replay",
    "Retention",
    "RetentionKind",
    "RetentionRule",
    "SealedText",
    "accept_dpa",
    "accept_for_fixture",
    "append_receipt",
    "call_data_key",
    "call_of",
    "calls_past_retention",
    "change_rule",
    "create_request",
    "create_rule",
    "current_dpa",
    "delete_rule",
    "dpa_acceptance",
    "dpa_accepted_by",
    "erase_call_data",
    "expire_exports",
    "expire_unmatched",
    "fetch_export",
    "find_request",
    "find_rule",
    "get_rule",
    "issue_privacy_key",
    "list_rules",
    "new_privacy_key",
    "normalise_privacy_key",
    "open_segments",
    "open_text",
    "open_vtt",
    "org_of",
    "org_requests",
    "plaintext_dir",
    "process_requests",
    "publish_dpa",
    "queue_in_org",
    "read_receipts",
    "recording_deadline",
    "remove_plaintext",
    "remove_stale_plaintext",
    "replay_erasures",
    "require_dpa_accepted",
    "reschedule",
    "resolve_retention",
    "retention_for_call",
    "seal_plaintext",
    "seal_text",
    "seal_transcript",
    "sweep_expired",
    "sweep_expired_call_data",
    "sweep_expired_calls",
]
