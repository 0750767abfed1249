"""The KIS realtime websocket session: connect, subscribe with acks, keep alive, reconnect.

Realtime frames (text starting with "0" or "1") are handed untouched to ``on_frame``; this
module never parses them. Control messages (acks, PINGPONG) are handled here. Reconnects use
capped, jittered exponential backoff and re-subscribe the current set exactly once per
connection, because KIS blocks clients that loop on connect or subscribe.

KIS holds one websocket session per app key: a second one is answered OPSP8996 ALREADY IN
USE appkey (two replicas with one key). That is no symbol's failure but the session's: it
closes the connection, goes to :attr:`SessionPhase.APPKEY_IN_USE` with the reason, and
retries on a slower capped backoff until the other session lets the key go.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from observer.daemon.errors import KisError
from observer.daemon.kis.auth import KisAuth
from observer.daemon.kis.codes import AckOutcome, ack_outcome
from observer.daemon.kis.gaps import GapLog
from observer.daemon.symbols import MAX_REGISTRATIONS, parse_symbols

log = logging.getLogger(__name__)

OnFrame = Callable[[str], Awaitable[None]]
#: The watchdog's limit is at least this many times the longest gap between two PINGPONGs
#: seen on the connection: KIS sends them about every 100+ s on a quiet connection.
KEEPALIVE_MARGIN = 2.5


class SessionPhase(StrEnum):
    """Where the session is: connecting, subscribing, streaming, in backoff, refused because
    another session holds the app key, or stopped."""

    CONNECTING = "connecting"
    SUBSCRIBING = "subscribing"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    APPKEY_IN_USE = "appkey_in_use"
    STOPPED = "stopped"


#: What status, readiness and the log say while KIS refuses the session with OPSP8996.
APPKEY_IN_USE = (
    "another session uses this app key (KIS OPSP8996 ALREADY IN USE appkey): KIS allows one "
    "websocket session per app key; stop the other collector or give this one its own "
    "KIS_APP_KEY"
)


@dataclass(frozen=True)
class SessionStatus:
    state: SessionPhase
    connected_since: float | None
    reconnects: int
    connections: int
    symbols: tuple[str, ...]  # the desired set
    subscribed: tuple[str, ...]  # acknowledged on the current connection
    failed: dict[str, str] = field(default_factory=dict)  # symbol -> "CODE meaning"
    last_error: str = ""
    frames_received: int = 0
    last_frame_at: float | None = None
    backoff_until: float | None = None
    pingpongs: int = 0
    subscribe_rounds: int = 0
    #: Longest gap between two PINGPONGs on the current connection (s), 0 before two.
    keepalive_gap: float = 0.0
    #: Silence (s) after which the watchdog reconnects: idle_timeout, or more once the
    #: connection's keep-alive cadence is known.
    idle_limit: float = 0.0
    #: Why KIS refuses this session as a whole (OPSP8996), empty when it does not.
    refused: str = ""


class _Disconnected(Exception):
    pass


class _AppKeyInUse(Exception):
    pass


class RealtimeSession:
    def __init__(
        self,
        ws_url: str,
        auth: KisAuth,
        tr_id: str | tuple[str, ...],
        symbols: Sequence[str],
        on_frame: OnFrame,
        *,
        gaps: GapLog | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        ack_timeout: float = 10.0,
        idle_timeout: float = 300.0,
        stable_after: float = 30.0,
        in_use_backoff: tuple[float, float] = (10.0, 300.0),
        max_registrations: int = MAX_REGISTRATIONS,
        max_size: int = 4 * 1024 * 1024,
        custtype: str = "P",
    ) -> None:
        self._url = ws_url
        self._auth = auth
        #: the realtime TRs every symbol is subscribed to (the trade TR, maybe H0STOUP0)
        self._tr_ids = (tr_id,) if isinstance(tr_id, str) else tuple(tr_id)
        self._limit = max_registrations
        self._symbols = parse_symbols(symbols, limit=max_registrations, tr_ids=self._multi)
        self._on_frame = on_frame
        self._gaps = gaps
        self._initial = backoff_initial
        self._max = backoff_max
        self._rng = rng or random.Random()
        self._clock = clock
        self._ack_timeout = ack_timeout
        self._idle_timeout = idle_timeout
        self._stable_after = stable_after
        self._in_use_backoff = in_use_backoff
        self._max_size = max_size
        self._custtype = custtype

        self._stop = asyncio.Event()
        self._sub_lock = asyncio.Lock()
        self._ws: ClientConnection | None = None
        self._key = ""
        self._pending: asyncio.Future[tuple[str, str, str]] | None = None
        self._pending_symbol = ""
        self._reconnect_now = False
        self._last_message = 0.0
        self._streamed = False
        self._close_reason = ""  # set when this side closes a connection on purpose
        self._refused = ""  # APPKEY_IN_USE while KIS refuses the session (OPSP8996)
        #: open outage: (start, reason, symbols affected), closed when streaming again
        self._gap: tuple[float, str, tuple[str, ...]] | None = None

        self._state = SessionPhase.CONNECTING
        self._connected_since: float | None = None
        self._connections = 0
        self._subscribed: set[tuple[str, str]] = set()  # (tr_id, symbol) acknowledged
        self._failed: dict[str, str] = {}
        self._last_error = ""
        self._frames = 0
        self._last_frame_at: float | None = None
        self._backoff_until: float | None = None
        self._pingpongs = 0
        self._last_ping = 0.0  # monotonic time of the connection's last PINGPONG
        self._ping_gap = 0.0  # the longest gap between two of them on this connection
        self._rounds = 0
        #: tr_id -> (key, iv) from encrypted-TR acks, for whoever decrypts "1" frames.
        self.cipher_keys: dict[str, tuple[str, str]] = {}

    @property
    def _multi(self) -> tuple[str, ...]:
        """The TRs, for the registration count (empty when there is one)."""
        return self._tr_ids if len(self._tr_ids) > 1 else ()

    # --- public API --------------------------------------------------------------------
    async def run(self) -> None:
        """Hold the session until :meth:`stop`; never raises for network or KIS failures."""
        attempt = in_use = 0
        while not self._stop.is_set():
            self._state = SessionPhase.CONNECTING
            began = time.monotonic()
            self._streamed = False
            try:
                self._key = await self._auth.approval_key()
                async with connect(
                    self._url,
                    ping_interval=None,
                    max_size=self._max_size,
                    open_timeout=10,
                    close_timeout=2,
                ) as ws:
                    self._ws = ws
                    self._connections += 1
                    self._connected_since = self._clock()
                    self._last_message = time.monotonic()
                    reason = await self._hold(ws)
            except _Disconnected as e:
                reason = str(e)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as e:
                reason = f"cannot connect to {self._url}: {type(e).__name__}: {e}"
            except KisError as e:
                reason = str(e)
            finally:
                self._ws = None
                self._connected_since = None
                self._subscribed.clear()
            if self._stop.is_set():
                break
            self._last_error = reason
            log.warning("KIS websocket down: %s", reason)
            if self._gap is None and self._connections > 0:
                self._gap = (self._clock(), reason, tuple(self._symbols))
            if self._streamed and time.monotonic() - began >= self._stable_after:
                attempt = 0
            if self._refused:
                # Another session holds the key: asking again soon cannot help, and loops
                # get an app key blocked. Slower, capped, and the state says why.
                first, cap = self._in_use_backoff
                delay = self._delay(in_use, first, cap)
                in_use += 1
                self._state = SessionPhase.APPKEY_IN_USE
            else:
                in_use = 0
                delay = self._delay(attempt)
                attempt += 1
                self._state = SessionPhase.BACKOFF
            self._backoff_until = self._clock() + delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            self._backoff_until = None
        if self._gap is not None:
            start, why, syms = self._gap
            self._record_gap(start, syms, why + " (stopped before reconnecting)")
            self._gap = None
        self._state = SessionPhase.STOPPED

    async def stop(self) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "observer stopping")

    async def set_subscriptions(self, symbols: Sequence[str]) -> None:
        """Replace the subscription set; validated before anything changes (InvalidRequest)."""
        new = parse_symbols(symbols, limit=self._limit, tr_ids=self._multi)
        async with self._sub_lock:
            old = self._symbols
            self._symbols = new
            for s in set(self._failed) - set(new):
                del self._failed[s]
            ws = self._ws
            if ws is None or self._state is not SessionPhase.STREAMING:
                return  # the next connection subscribes the new set
            try:
                for s in [s for s in old if s not in new]:
                    for tr in self._tr_ids:
                        await self._request(ws, "2", tr, s)
                        self._subscribed.discard((tr, s))
                for s in new:
                    await self._subscribe_one(ws, s)
            except _Disconnected:
                pass  # the reconnect subscribes the new set

    def status(self) -> SessionStatus:
        return SessionStatus(
            state=self._state,
            connected_since=self._connected_since,
            reconnects=max(0, self._connections - 1),
            connections=self._connections,
            symbols=tuple(self._symbols),
            subscribed=tuple(
                s for s in self._symbols if all((tr, s) in self._subscribed for tr in self._tr_ids)
            ),
            failed=dict(self._failed),
            last_error=self._last_error,
            frames_received=self._frames,
            last_frame_at=self._last_frame_at,
            backoff_until=self._backoff_until,
            pingpongs=self._pingpongs,
            subscribe_rounds=self._rounds,
            keepalive_gap=self._ping_gap,
            idle_limit=self._idle_limit(),
            refused=self._refused,
        )

    # --- one connection ----------------------------------------------------------------
    async def _hold(self, ws: ClientConnection) -> str:
        self._close_reason = ""
        self._last_ping, self._ping_gap = time.monotonic(), 0.0  # learnt per connection
        reader = asyncio.create_task(self._read(ws))
        watchdog = asyncio.create_task(self._watch(ws))
        stopper = asyncio.create_task(self._stop.wait())
        try:
            self._state = SessionPhase.SUBSCRIBING
            try:
                async with self._sub_lock:
                    self._failed.clear()
                    for s in list(self._symbols):
                        await self._subscribe_one(ws, s)
                    self._rounds += 1
            except _AppKeyInUse:
                return await self._app_key_in_use(ws)
            self._refused = ""
            self._state = SessionPhase.STREAMING
            if self._reconnect_now:
                self._reconnect_now = False
                self._close_reason = "KIS refused the approval key (OPSP0011); reconnecting"
                await ws.close(1000, "reconnecting with a new approval key")
            self._back_online()
            done, _ = await asyncio.wait(
                {reader, watchdog, stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            if self._refused:
                return self._refused
            if self._close_reason:
                return self._close_reason
            if reader in done:
                return reader.result()
            return "stopped"
        finally:
            for t in (reader, watchdog, stopper):
                t.cancel()
            for t in (reader, watchdog, stopper):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def _app_key_in_use(self, ws: ClientConnection) -> str:
        """KIS refused the session (OPSP8996): close this connection; run() backs off."""
        self._refused = APPKEY_IN_USE
        self._failed.clear()  # no symbol failed: the session did
        self._subscribed.clear()
        log.error("%s", APPKEY_IN_USE)
        await ws.close(1000, "app key in use by another session")
        return APPKEY_IN_USE

    async def _read(self, ws: ClientConnection) -> str:
        on_frame = self._on_frame
        reason = "closed"
        try:
            async for msg in ws:
                text = msg if isinstance(msg, str) else msg.decode("utf-8", "replace")
                self._last_message = time.monotonic()
                first = text[:1]
                if first == "0" or first == "1":
                    self._frames += 1
                    self._last_frame_at = self._clock()
                    try:
                        await on_frame(text)
                    except Exception:
                        # A consumer bug must not take the feed down; it is logged loudly.
                        log.exception("on_frame failed for a %d-char frame", len(text))
                else:
                    await self._control(ws, text)
            reason = f"server closed the connection (code {ws.close_code} {ws.close_reason or ''})"
        except ConnectionClosed as e:
            reason = f"connection lost ({e})"
        finally:
            fut = self._pending
            if fut is not None and not fut.done():
                fut.set_exception(_Disconnected(reason.strip()))
        return reason.strip()

    def _idle_limit(self) -> float:
        """The watchdog's limit: ``idle_timeout``, raised to a margin over the longest
        keep-alive gap this connection has shown (a quiet connection is not a stall)."""
        return max(self._idle_timeout, KEEPALIVE_MARGIN * self._ping_gap)

    async def _watch(self, ws: ClientConnection) -> str:
        if self._idle_timeout <= 0:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(min(1.0, self._idle_timeout / 4))
            limit = self._idle_limit()
            if time.monotonic() - self._last_message > limit:
                self._close_reason = (
                    f"no message from KIS for {limit:g} s (stalled feed; keep-alive gap seen "
                    f"{self._ping_gap:.0f} s); reconnecting"
                )
                await ws.close(1000, "idle")
                return self._close_reason

    async def _control(self, ws: ClientConnection, text: str) -> None:
        try:
            obj = json.loads(text)
        except ValueError:
            log.warning("KIS sent a non-JSON control message: %.120r", text)
            return
        header: Any = obj.get("header") if isinstance(obj, dict) else None
        if not isinstance(header, dict):
            log.warning("KIS sent a control message without header: %.120r", text)
            return
        if header.get("tr_id") == "PINGPONG":
            self._pingpongs += 1
            now = time.monotonic()
            if self._last_ping:
                self._ping_gap = max(self._ping_gap, now - self._last_ping)
            self._last_ping = now
            await ws.send(text)  # echo, as the official samples do
            return
        body = obj.get("body")
        if not isinstance(body, dict):
            return
        output = body.get("output")
        if header.get("encrypt") == "Y" and isinstance(output, dict):
            self.cipher_keys[str(header.get("tr_id"))] = (
                str(output.get("key", "")),
                str(output.get("iv", "")),
            )
        fut = self._pending
        key = str(header.get("tr_key") or "")
        msg_cd = str(body.get("msg_cd", ""))
        if fut is not None and not fut.done() and (not key or key == self._pending_symbol):
            fut.set_result((str(body.get("rt_cd", "")), msg_cd, str(body.get("msg1", ""))))
        elif ack_outcome(msg_cd, str(body.get("rt_cd", "")), "1")[0] is AckOutcome.APPKEY_IN_USE:
            if not self._refused:  # unsolicited: the session as a whole is refused
                self._close_reason = await self._app_key_in_use(ws)
        else:
            log.info("unsolicited KIS ack %s for %s", msg_cd, key or "?")

    async def _request(
        self, ws: ClientConnection, tr_type: str, tr_id: str, symbol: str
    ) -> tuple[str, str]:
        """Send one (un)subscribe and wait for its ack: (msg_cd, rt_cd)."""
        fut: asyncio.Future[tuple[str, str, str]] = asyncio.get_running_loop().create_future()
        self._pending, self._pending_symbol = fut, symbol
        msg = {
            "header": {
                "approval_key": self._key,
                "custtype": self._custtype,
                "tr_type": tr_type,
                "content-type": "utf-8",
            },
            "body": {"input": {"tr_id": tr_id, "tr_key": symbol}},
        }
        try:
            await ws.send(json.dumps(msg))
            rt_cd, msg_cd, _msg1 = await asyncio.wait_for(fut, self._ack_timeout)
        except ConnectionClosed as e:
            raise _Disconnected(f"connection lost while subscribing ({e})") from None
        except TimeoutError:
            return "TIMEOUT", ""
        finally:
            self._pending = None
        return msg_cd, rt_cd

    async def _subscribe_one(self, ws: ClientConnection, symbol: str) -> None:
        """Subscribe ``symbol`` on every TR it is not subscribed on yet."""
        for tr in self._tr_ids:
            if (tr, symbol) not in self._subscribed:
                await self._subscribe_tr(ws, tr, symbol)

    async def _subscribe_tr(self, ws: ClientConnection, tr: str, symbol: str) -> None:
        on = f" on {tr}" if len(self._tr_ids) > 1 else ""
        if len(self._subscribed) >= self._limit:
            self._failed[symbol] = (
                f"LIMIT not sent{on}: {self._limit} registrations already in use on this app key"
            )
            return
        msg_cd, rt_cd = await self._request(ws, "1", tr, symbol)
        if msg_cd == "TIMEOUT":
            self._failed[symbol] = f"TIMEOUT no ack{on} within {self._ack_timeout:.0f} s"
            log.warning("no subscribe ack for %s%s within %.0f s", symbol, on, self._ack_timeout)
            return
        outcome, meaning = ack_outcome(msg_cd, rt_cd, "1")
        if outcome is AckOutcome.APPKEY_IN_USE:
            raise _AppKeyInUse
        if outcome is AckOutcome.SUBSCRIBED:
            self._subscribed.add((tr, symbol))
            if all((t, symbol) in self._subscribed for t in self._tr_ids):
                self._failed.pop(symbol, None)
            return
        self._failed[symbol] = f"{msg_cd} {meaning}{on}"
        self._last_error = f"subscribe {symbol}{on} refused: {msg_cd} {meaning}"
        log.warning("KIS refused subscription of %s%s: %s %s", symbol, on, msg_cd, meaning)
        if outcome is AckOutcome.BAD_APPROVAL_KEY:
            self._auth.invalidate_approval()
            self._reconnect_now = True

    # --- helpers -----------------------------------------------------------------------
    def _delay(self, attempt: int, first: float | None = None, cap: float | None = None) -> float:
        """Jittered exponential backoff: ``first`` doubling per attempt up to ``cap``."""
        first = self._initial if first is None else first
        cap = self._max if cap is None else cap
        base = min(cap, first * (2 ** min(attempt, 30)))
        return float(base / 2 + self._rng.uniform(0, base / 2))

    def _back_online(self) -> None:
        """Streaming again: close the open gap (one record per outage)."""
        self._streamed = True
        if self._gap is not None:
            start, why, syms = self._gap
            self._record_gap(start, syms, why)
            self._gap = None

    def _record_gap(self, start: float, symbols: tuple[str, ...], reason: str) -> None:
        if self._gaps is not None:
            self._gaps.record(start, self._clock(), symbols, reason)
