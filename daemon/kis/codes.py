"""KIS result codes: what each means to an operator and how the client reacts.

Websocket subscribe acks carry ``OPSP`` codes; REST errors carry ``EGW`` codes (sometimes
in a different envelope: ``error_code``/``error_description`` instead of
``rt_cd``/``msg_cd``/``msg1``).
"""

from __future__ import annotations

from enum import StrEnum


class AckOutcome(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    NOT_SUBSCRIBED = "not-subscribed"
    LIMIT = "limit"
    BAD_APPROVAL_KEY = "bad-approval-key"
    APPKEY_IN_USE = "appkey-in-use"
    REJECTED = "rejected"


#: OPSP code -> (outcome, operator-facing meaning).
ACK_CODES: dict[str, tuple[AckOutcome, str]] = {
    "OPSP0000": (AckOutcome.SUBSCRIBED, "subscribe success"),
    "OPSP0001": (AckOutcome.UNSUBSCRIBED, "unsubscribe success"),
    "OPSP0002": (AckOutcome.SUBSCRIBED, "already in subscribe (kept as subscribed)"),
    "OPSP0003": (AckOutcome.NOT_SUBSCRIBED, "unsubscribe of a symbol that was not subscribed"),
    "OPSP0007": (AckOutcome.REJECTED, "KIS internal error"),
    "OPSP0008": (
        AckOutcome.LIMIT,
        "max subscribe over: KIS allows 41 realtime registrations per app key",
    ),
    "OPSP0011": (
        AckOutcome.BAD_APPROVAL_KEY,
        "invalid approval key: a new one is fetched on the next connection",
    ),
    "OPSP8991": (AckOutcome.REJECTED, "invalid tr_id"),
    "OPSP8992": (AckOutcome.REJECTED, "invalid tr_key (symbol)"),
    "OPSP8996": (
        AckOutcome.APPKEY_IN_USE,
        "app key already in use: another session holds this app key",
    ),
    "OPSP8997": (AckOutcome.REJECTED, "invalid tr_type"),
    "OPSP8998": (AckOutcome.REJECTED, "invalid custtype"),
    "OPSP9999": (AckOutcome.REJECTED, "invalid json in the request"),
}


def ack_outcome(msg_cd: str, rt_cd: str, tr_type: str) -> tuple[AckOutcome, str]:
    """Classify an ack; unknown codes fall back on ``rt_cd`` ("0" is success)."""
    known = ACK_CODES.get(msg_cd)
    if known is not None:
        return known
    if rt_cd == "0":
        ok = AckOutcome.SUBSCRIBED if tr_type == "1" else AckOutcome.UNSUBSCRIBED
        return ok, f"success ({msg_cd or 'no code'})"
    return AckOutcome.REJECTED, f"unknown code {msg_cd or '(none)'}"


def split_code(why: str) -> tuple[str, str]:
    """("OPSP0008", "max subscribe over ...") from a "CODE meaning" failure text."""
    code, _, message = why.partition(" ")
    return code, message


# --- REST (EGW) --------------------------------------------------------------------------
RATE_LIMITED = "EGW00201"
TOKEN_REISSUE_LIMIT = "EGW00133"
TOKEN_INVALID = "EGW00121"
TOKEN_NOT_FOUND = "EGW00122"
TOKEN_EXPIRED = "EGW00123"
#: A token KIS no longer takes: the client invalidates it, reissues once and retries once.
TOKEN_ERRORS = frozenset({TOKEN_INVALID, TOKEN_NOT_FOUND, TOKEN_EXPIRED})

REST_CODES: dict[str, str] = {
    RATE_LIMITED: "request rate over the per-app-key limit",
    TOKEN_REISSUE_LIMIT: "access token reissued too soon (KIS allows about one per minute)",
    TOKEN_INVALID: "access token invalid",
    TOKEN_NOT_FOUND: "access token not found",
    TOKEN_EXPIRED: "access token expired",
}
