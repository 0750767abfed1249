"""The swing track: periodic REST quotes (inquire-price) for the swing universe.

Each sweep asks KIS for every symbol once, paced below the per-app-key rate limit. On
EGW00201 (rate over) the poller backs off exponentially and retries that symbol later in the
sweep; on a token error it invalidates the token once and retries. Each sweep's snapshots
are published as one list. inquire-price has no date field: a snapshot carries the trading
day the market calendar gives for its arrival, and on a day the market is closed (weekend,
holiday) nothing is asked at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from observer.daemon.clock import MarketCalendar, to_kst
from observer.daemon.errors import KisAuthError, KisError
from observer.daemon.kis import codes
from observer.daemon.kis._http import error_code, error_text, request_json
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.endpoints import QUOTE_MARKET, QUOTE_PATH, QUOTE_TR
from observer.daemon.model import Snapshot
from observer.daemon.schema.fields import SWING, Kind

log = logging.getLogger(__name__)

Publish = Callable[[list[Snapshot]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class SwingStatus:
    state: str  # idle | sweeping | backoff | closed | stopped
    sweeps: int
    snapshots: int
    skipped_below_min: int
    rate_limited: int
    failures: int
    last_sweep_at: float | None
    last_sweep_s: float | None
    last_error: str
    closed_skipped: int = 0  # sweeps not made: the market was closed that day


def _int(out: dict[str, Any], key: str) -> int:
    v = out.get(key)
    if v is None or v == "":
        return 0
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return int(float(v))
        except (TypeError, ValueError):
            return 0


def _float(out: dict[str, Any], key: str) -> float:
    v = out.get(key)
    if v is None or v == "":
        return 0.0
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def to_snapshot(
    symbol: str, out: dict[str, Any], received_at: float, trade_date: str | None = None
) -> Snapshot:
    """Map an inquire-price ``output`` to a Snapshot by the schema table's ``rest_key``s;
    missing or odd numbers become 0 (inquire-price has no date or time: the quote is
    stamped with its arrival, KST, and ``trade_date`` (YYYYMMDD), the trading day the
    calendar gives, else the KST date of arrival)."""
    k = to_kst(received_at)
    values: dict[str, Any] = {}
    for f in SWING:
        if f.rest_key is None:
            continue
        if f.kind is Kind.INT:
            values[f.name] = _int(out, f.rest_key)
        elif f.kind is Kind.FLOAT:
            values[f.name] = _float(out, f.rest_key)
        elif f.kind is Kind.BOOL:
            values[f.name] = str(out.get(f.rest_key, "N")).upper() == "Y"
        else:
            values[f.name] = str(out.get(f.rest_key, "") or "")
    values["sign"] = values["sign"] or 3
    return Snapshot(
        symbol=symbol,
        trade_date=trade_date or f"{k:%Y%m%d}",
        time=f"{k:%H%M%S}",
        received_at=received_at,
        **values,
    )


class SwingPoller:
    def __init__(
        self,
        rest_url: str,
        auth: KisAuth,
        symbols: Sequence[str],
        *,
        interval: float,
        rate: float,
        min_price: int,
        publish: Publish,
        client: httpx.AsyncClient,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        calendar: MarketCalendar | None = None,
        market: str = "KRX",
    ) -> None:
        """``calendar``: the trading days (default: the Korea Exchange's); ``market``:
        OBSERVER_MARKET, which sets inquire-price's FID_COND_MRKT_DIV_CODE (J, NX, UN)."""
        if rate <= 0:
            raise ValueError("rate must be positive (requests per second)")
        self._rest = rest_url.rstrip("/")
        self._auth = auth
        self._symbols = list(symbols)
        self._interval = interval
        self._gap = 1.0 / rate
        self._min_price = min_price
        self._publish = publish
        self._client = client
        self._b0 = backoff_initial
        self._bmax = backoff_max
        self._clock = clock
        self._sleep = sleep
        self._calendar = calendar or MarketCalendar(market)
        self._market_code = QUOTE_MARKET[market]
        self._stop = asyncio.Event()
        self._next_slot = 0.0

        self._state = "idle"
        self._sweeps = 0
        self._snapshots = 0
        self._skipped = 0
        self._rate_limited = 0
        self._failures = 0
        self._last_sweep_at: float | None = None
        self._last_sweep_s: float | None = None
        self._last_error = ""
        self._closed = 0
        self._day = ""

    async def run(self) -> None:
        """Sweep every ``interval`` seconds until :meth:`stop`."""
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                await self.sweep()
            except Exception:
                # Keep the track alive; the failure is visible in status and the log.
                log.exception("swing sweep failed")
                self._failures += 1
            wait = max(0.0, self._interval - (time.monotonic() - began))
            if self._state != "closed":
                self._state = "idle"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
        self._state = "stopped"

    def stop(self) -> None:
        self._stop.set()

    async def sweep(self) -> list[Snapshot]:
        """Quote every symbol once (retrying rate-limited ones later); publish the list.
        Nothing on a day the market is closed."""
        day = self._calendar.trade_date(to_kst(self._clock()))
        if day is None:
            self._state = "closed"
            self._closed += 1
            return []
        self._day = f"{day:%Y%m%d}"
        self._state = "sweeping"
        began = time.monotonic()
        todo: deque[tuple[str, int]] = deque((s, 0) for s in self._symbols)
        out: list[Snapshot] = []
        backoff = self._b0
        while todo and not self._stop.is_set():
            symbol, attempts = todo.popleft()
            await self._pace()
            try:
                snap = await self._quote(symbol)
            except KisError as e:
                if e.code == codes.RATE_LIMITED:
                    self._rate_limited += 1
                    if attempts + 1 < MAX_ATTEMPTS:
                        todo.append((symbol, attempts + 1))
                    else:
                        self._fail(f"{symbol}: still rate-limited after {MAX_ATTEMPTS} tries")
                    self._state = "backoff"
                    await self._sleep(backoff)
                    self._state = "sweeping"
                    backoff = min(self._bmax, backoff * 2)
                    continue
                self._fail(f"{symbol}: {e}")
                continue
            backoff = self._b0
            if self._min_price and snap.price < self._min_price:
                self._skipped += 1
                continue
            out.append(snap)
        self._sweeps += 1
        self._last_sweep_at = self._clock()
        self._last_sweep_s = time.monotonic() - began
        if out:
            self._snapshots += len(out)
            await self._publish(out)
        return out

    def status(self) -> SwingStatus:
        return SwingStatus(
            state=self._state,
            sweeps=self._sweeps,
            snapshots=self._snapshots,
            skipped_below_min=self._skipped,
            rate_limited=self._rate_limited,
            failures=self._failures,
            last_sweep_at=self._last_sweep_at,
            last_sweep_s=self._last_sweep_s,
            last_error=self._last_error,
            closed_skipped=self._closed,
        )

    # --- internals ---------------------------------------------------------------------
    async def _pace(self) -> None:
        now = time.monotonic()
        if self._next_slot > now:
            await self._sleep(self._next_slot - now)
            now = time.monotonic()
        self._next_slot = max(now, self._next_slot) + self._gap

    async def _quote(self, symbol: str) -> Snapshot:
        params = {"FID_COND_MRKT_DIV_CODE": self._market_code, "FID_INPUT_ISCD": symbol}
        url = self._rest + QUOTE_PATH
        for retry in (False, True):
            headers = await self._auth.rest_headers(QUOTE_TR)
            status, data = await request_json(
                self._client, "GET", url, params=params, headers=headers
            )
            code = error_code(data)
            if code in codes.TOKEN_ERRORS and not retry:
                # The token died mid-session: reissue once, retry once.
                self._auth.invalidate()
                self._auth.note_error(f"{code}: {codes.REST_CODES[code]}; token reissued")
                continue
            if code in codes.TOKEN_ERRORS:
                raise KisAuthError(
                    f"KIS rejected a freshly issued token for inquire-price ({code}); "
                    "check KIS_APP_KEY/KIS_APP_SECRET and KIS_ENV.",
                    code,
                )
            if code:
                raise KisError(
                    f"inquire-price {symbol}: {code} {error_text(data) or 'no description'} "
                    f"(HTTP {status})",
                    code,
                )
            output = data.get("output")
            if not isinstance(output, dict):
                raise KisError(f"inquire-price {symbol}: response has no output object")
            return to_snapshot(symbol, output, self._clock(), self._day)
        raise AssertionError("unreachable")

    def _fail(self, message: str) -> None:
        self._failures += 1
        self._last_error = message
        log.warning("swing: %s", message)
