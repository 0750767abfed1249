"""Shared REST plumbing: one request, JSON decoded, transport failures made readable.

Messages name the endpoint path and host, never a header or body (they carry secrets).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from observer.daemon.errors import KisError


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json_body: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Send one request; return (HTTP status, decoded JSON object).

    KIS answers errors with HTTP 4xx/5xx *and* a JSON envelope, so the status is returned
    rather than raised; only an unreachable server or a non-JSON body raise KisError.
    """
    path = urlsplit(url).path or "/"
    try:
        resp = await client.request(method, url, json=json_body, params=params, headers=headers)
    except httpx.HTTPError as e:
        raise KisError(
            f"KIS REST {path} at {host_of(url)} failed: {type(e).__name__}. Check the network "
            "and KIS_REST_URL/KIS_ENV; the request is retried with backoff."
        ) from None
    try:
        data = json.loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        raise KisError(
            f"KIS REST {path} at {host_of(url)} answered HTTP {resp.status_code} with a body "
            f"that is not JSON ({len(resp.content)} bytes); is KIS_REST_URL a KIS server?"
        ) from None
    if not isinstance(data, dict):
        raise KisError(
            f"KIS REST {path} at {host_of(url)} answered HTTP {resp.status_code} with JSON "
            f"that is not an object ({type(data).__name__})."
        )
    return resp.status_code, data


def error_code(data: dict[str, Any]) -> str:
    """The KIS error code of either envelope ("" when the response is a success)."""
    code = data.get("error_code")
    if code:
        return str(code)
    rt = data.get("rt_cd")
    if rt is not None and str(rt) != "0":
        return str(data.get("msg_cd") or f"rt_cd={rt}")
    return ""


def error_text(data: dict[str, Any], limit: int = 160) -> str:
    text = data.get("error_description") or data.get("msg1") or ""
    return str(text).strip()[:limit]
