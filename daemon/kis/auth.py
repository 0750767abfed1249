"""KIS REST authentication: the access token (cached on disk) and the websocket approval key.

KIS limits token reissue (about one per minute per app key; EGW00133 beyond it) and a token
lives a day, so the token is cached in ``KIS_TOKEN_CACHE_DIR`` (mode 0600, written
atomically) and reused across restarts until shortly before it expires. Concurrent callers
share one issuance. The token value never leaves this module except in the Authorization
header; status reports presence, source and times only.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from observer.daemon.clock import KST
from observer.daemon.errors import KisAuthError, KisError, KisRateLimited
from observer.daemon.fingerprints import Fingerprints
from observer.daemon.kis import codes
from observer.daemon.kis._http import error_code, error_text, host_of, request_json
from observer.daemon.kis.endpoints import APPROVAL_PATH, TOKEN_PATH

#: The token cache's file name in KIS_TOKEN_CACHE_DIR.
CACHE_NAME = "access-token.json"
#: Fingerprints when none are given: stable within this process only.
_THIS_PROCESS = Fingerprints.ephemeral()

Sleep = Callable[[float], Awaitable[None]]
#: Seconds an approval key is used: KIS's official samples reissue it after a day.
APPROVAL_LIFETIME = 86_400.0


@dataclass(frozen=True)
class AuthStatus:
    """What may be shown about the credentials: never a token or key value."""

    token_present: bool
    source: str  # "cache" | "issued" | "none"
    issued_at: float | None
    expires_at: float | None
    issues_this_process: int
    approval_key_present: bool
    app_key_fingerprint: str
    cache_file: str
    last_error: str
    approval_issued_at: float | None = None
    approval_expires_at: float | None = None  # when it is reissued


@dataclass
class _Token:
    value: str
    issued_at: float
    expires_at: float


def parse_expiry(data: dict[str, Any], issued_at: float) -> float:
    """POSIX expiry: ``access_token_token_expired`` (KST) when present, else ``expires_in``."""
    text = str(data.get("access_token_token_expired") or "").strip()
    if text:
        try:
            dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
            return dt.timestamp()
        except ValueError:
            pass
    try:
        return issued_at + float(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        return issued_at


class KisAuth:
    """Access token and approval key for one app key against one REST base URL."""

    def __init__(
        self,
        rest_url: str,
        app_key: str,
        app_secret: str,
        cache_dir: Path,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = 600.0,
        reissue_wait: float = 61.0,
        sleep: Sleep = asyncio.sleep,
        approval_lifetime: float = APPROVAL_LIFETIME,
        fingerprint: Callable[[str], str] | None = None,
    ) -> None:
        """``fingerprint``: the installation's keyed fingerprints (daemon/fingerprints.py);
        without it, a key of this process only (nothing in the cache then matches later)."""
        self._rest = rest_url.rstrip("/")
        self._key = app_key
        self._secret = app_secret
        self._fp = (fingerprint or _THIS_PROCESS)(app_key)
        # One fixed name: a name derived from the app key would be a hash of a secret.
        self._cache_file = cache_dir / CACHE_NAME
        self._client = client
        self._clock = clock
        self._margin = refresh_margin
        self._reissue_wait = reissue_wait
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._token: _Token | None = None
        self._source = "none"
        self._issues = 0
        self._approval: str | None = None
        self._approval_at = 0.0
        self._approval_lifetime = approval_lifetime
        self._last_error = ""

    # --- what other KIS components need ----------------------------------------------
    @property
    def app_key(self) -> str:
        return self._key

    @property
    def app_secret(self) -> str:
        return self._secret

    @property
    def cache_file(self) -> Path:
        return self._cache_file

    async def rest_headers(self, tr_id: str) -> dict[str, str]:
        """Headers of an authenticated KIS REST call for ``tr_id``."""
        token = await self.access_token()
        return {
            "authorization": f"Bearer {token}",
            "appkey": self._key,
            "appsecret": self._secret,
            "tr_id": tr_id,
            "custtype": "P",
            "content-type": "application/json; charset=utf-8",
        }

    # --- access token ------------------------------------------------------------------
    async def access_token(self) -> str:
        """A valid access token: memory, then the disk cache, then one issuance."""
        tok = self._token
        if tok is not None and self._fresh(tok):
            return tok.value
        async with self._lock:
            # Another caller may have issued while this one waited for the lock.
            tok = self._token
            if tok is not None and self._fresh(tok):
                return tok.value
            cached = self._read_cache()
            if cached is not None and self._fresh(cached):
                self._token, self._source = cached, "cache"
                return cached.value
            tok = await self._issue()
            self._token, self._source = tok, "issued"
            self._write_cache(tok)
            return tok.value

    def invalidate(self) -> None:
        """Forget the token (KIS said EGW00121/EGW00123): the next call reissues once."""
        self._token = None
        self._source = "none"
        try:
            self._cache_file.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            self._last_error = f"could not remove token cache {self._cache_file}: {e.strerror}"

    def _fresh(self, tok: _Token) -> bool:
        return tok.expires_at - self._margin > self._clock()

    async def _issue(self) -> _Token:
        body = {"grant_type": "client_credentials", "appkey": self._key, "appsecret": self._secret}
        url = self._rest + TOKEN_PATH
        status, data = await self._post(url, body)
        if error_code(data) == codes.TOKEN_REISSUE_LIMIT:
            # Wait the limit out exactly once; a second refusal is reported, never looped.
            self._last_error = (
                f"{codes.TOKEN_REISSUE_LIMIT}: token reissue limited by KIS; waiting "
                f"{self._reissue_wait:.0f} s before one retry"
            )
            await self._sleep(self._reissue_wait)
            cached = self._read_cache()  # another process may have issued meanwhile
            if cached is not None and self._fresh(cached):
                return cached
            status, data = await self._post(url, body)
            if error_code(data) == codes.TOKEN_REISSUE_LIMIT:
                raise self._fail(
                    KisRateLimited(
                        f"KIS refused to reissue the access token again ({codes.TOKEN_REISSUE_LIMIT}: "
                        f"{error_text(data)}) after a {self._reissue_wait:.0f} s wait. Keep "
                        f"KIS_TOKEN_CACHE_DIR on a persistent volume so restarts reuse the token.",
                        codes.TOKEN_REISSUE_LIMIT,
                    )
                )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            code = error_code(data) or f"HTTP {status}"
            raise self._fail(
                KisAuthError(
                    f"KIS refused an access token for app key {self._fp} (fingerprint) at "
                    f"{host_of(self._rest)} ({code}: {error_text(data) or 'no description'}). "
                    "Check KIS_APP_KEY/KIS_APP_SECRET and KIS_ENV (real and paper keys differ).",
                    code,
                )
            )
        now = self._clock()
        self._issues += 1
        self._last_error = ""
        return _Token(token, now, parse_expiry(data, now))

    # --- approval key ------------------------------------------------------------------
    async def approval_key(self) -> str:
        """The websocket approval key: kept in memory for a day (then reissued, as KIS's
        samples do), or until :meth:`invalidate_approval` (KIS refused it)."""
        if self._approval is not None:
            if self._clock() - self._approval_at < self._approval_lifetime - self._margin:
                return self._approval
            self._approval = None  # a day old: the next connection gets a new one
        body = {"grant_type": "client_credentials", "appkey": self._key, "secretkey": self._secret}
        status, data = await self._post(self._rest + APPROVAL_PATH, body)
        key = data.get("approval_key")
        if not isinstance(key, str) or not key:
            code = error_code(data) or f"HTTP {status}"
            raise self._fail(
                KisAuthError(
                    f"KIS refused a websocket approval key for app key {self._fp} (fingerprint) "
                    f"({code}: {error_text(data) or 'no description'}). Check "
                    "KIS_APP_KEY/KIS_APP_SECRET and KIS_ENV.",
                    code,
                )
            )
        self._approval, self._approval_at = key, self._clock()
        return key

    def invalidate_approval(self) -> None:
        """KIS said OPSP0011 (invalid approval key): fetch a new one next time."""
        self._approval = None

    # --- status ------------------------------------------------------------------------
    def status(self) -> AuthStatus:
        tok = self._token
        return AuthStatus(
            token_present=tok is not None,
            source=self._source if tok is not None else "none",
            issued_at=tok.issued_at if tok else None,
            expires_at=tok.expires_at if tok else None,
            issues_this_process=self._issues,
            approval_key_present=self._approval is not None,
            app_key_fingerprint=self._fp,
            cache_file=str(self._cache_file),
            last_error=self._last_error,
            approval_issued_at=self._approval_at if self._approval is not None else None,
            approval_expires_at=(
                self._approval_at + self._approval_lifetime if self._approval is not None else None
            ),
        )

    def note_error(self, message: str) -> None:
        """Record an auth-related failure seen by a caller (shown in status)."""
        self._last_error = message

    # --- internals ---------------------------------------------------------------------
    async def _post(self, url: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            return await request_json(self._client, "POST", url, json_body=body)
        except KisError as e:
            raise self._fail(e) from None

    def _fail(self, e: KisError) -> KisError:
        self._last_error = str(e)
        return e

    def _read_cache(self) -> _Token | None:
        try:
            data = json.loads(self._cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("rest_host") != host_of(self._rest):
            return None
        if data.get("app_key_fingerprint") != self._fp:
            return None  # another app key's token (or an older cache): not ours
        try:
            return _Token(
                str(data["access_token"]), float(data["issued_at"]), float(data["expires_at"])
            )
        except (KeyError, TypeError, ValueError):
            return None

    def _write_cache(self, tok: _Token) -> None:
        """Write the cache 0600 from the first byte: temp file, fsync, rename, fsync dir."""
        d = self._cache_file.parent
        payload = json.dumps(
            {
                "app_key_fingerprint": self._fp,
                "rest_host": host_of(self._rest),
                "access_token": tok.value,
                "issued_at": tok.issued_at,
                "expires_at": tok.expires_at,
            }
        ).encode()
        tmp = d / f".{self._cache_file.name}.{os.getpid()}.tmp"
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # an older leftover temp file may have other bits
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._cache_file)
            dfd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            # The token still works for this process; only restarts would reissue.
            self._last_error = (
                f"token cache {self._cache_file} not written ({e.strerror}); restarts will "
                "reissue tokens, which KIS rate-limits. Make KIS_TOKEN_CACHE_DIR writable."
            )
