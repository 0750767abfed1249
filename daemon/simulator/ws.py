"""The simulator's KIS websocket: subscribe acks with every code, limits, PINGPONG, frames.

Each connection gets three tasks: a reader (subscribe/unsubscribe requests, PINGPONG
echoes), a feeder (frames at the configured rate, in batches) and a keeper (PINGPONG, the
drop-every fault). Registrations are per app key (41 at most) and one app key may hold one
session; both are released when the owning connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from observer.daemon.clock import to_kst
from observer.daemon.simulator.market import frame, malformed, phase
from observer.daemon.simulator.state import SimState
from observer.daemon.symbols import is_symbol

PATHS = ("/", "/tryitout")
#: KRX after-hours single-price trades (16:00-18:00).
AFTER_HOURS_TR = "H0STOUP0"
TR_IDS = frozenset({"H0STCNT0", "H0NXCNT0", "H0UNCNT0", "H0STASP0", AFTER_HOURS_TR})

_MSG = {
    "OPSP0000": "SUBSCRIBE SUCCESS",
    "OPSP0001": "UNSUBSCRIBE SUCCESS",
    "OPSP0002": "ALREADY IN SUBSCRIBE",
    "OPSP0003": "UNSUBSCRIBE ERROR(not found!)",
    "OPSP0008": "MAX SUBSCRIBE OVER",
    "OPSP0011": "invalid approval : NOT FOUND",
    "OPSP8991": "invalid tr_id",
    "OPSP8992": "invalid tr_key",
    "OPSP8996": "ALREADY IN USE appkey",
    "OPSP8997": "invalid tr_type",
    "OPSP8998": "invalid custtype",
    "OPSP9999": "JSON PARSING ERROR",
}


class _Conn:
    def __init__(self, ws: ServerConnection, index: int) -> None:
        self.ws = ws
        self.index = index
        self.appkey = ""
        self.subs: set[tuple[str, str]] = set()  # (tr_id, tr_key)
        self.opened = time.monotonic()
        self.dropping = False  # the feed sends nothing more; the connection is about to go

    async def drop(self, flush_within: float = 2.0) -> None:
        """Abort the connection as a network drop would, once what was already handed to
        the transport has left it (at most ``flush_within`` s): every frame counted as sent
        then reached the peer's socket, so the stats stay exact across drops."""
        self.dropping = True
        transport = self.ws.transport
        deadline = time.monotonic() + flush_within
        # Polling on purpose: the transport has no event for an emptied buffer.
        while transport.get_write_buffer_size() > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        transport.abort()


class WsFeed:
    def __init__(self, state: SimState) -> None:
        self._s = state
        self._conns: set[_Conn] = set()

    def drop_all(self) -> int:
        """Abort every connection now (as a network drop would); returns how many."""
        n = 0
        for c in list(self._conns):
            c.ws.transport.abort()
            n += 1
        self._s.stats.drops += n
        return n

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        if path.split("?")[0] not in PATHS:
            await ws.close(1008, "unknown path")
            return
        st = self._s.stats
        conn = _Conn(ws, st.connections)
        st.connections += 1
        st.active_connections += 1
        st.subscribes_per_connection.append(0)
        self._conns.add(conn)
        tasks = [asyncio.create_task(self._feed(conn)), asyncio.create_task(self._keep(conn))]
        try:
            await self._read(conn)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self._conns.discard(conn)
            st.active_connections -= 1
            if conn.appkey and self._s.owner.get(conn.appkey) is conn:
                del self._s.owner[conn.appkey]
                if self._s.cfg.forget_on_close:
                    self._s.registrations.pop(conn.appkey, None)

    # --- requests ----------------------------------------------------------------------
    async def _read(self, conn: _Conn) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for msg in conn.ws:
                text = msg if isinstance(msg, str) else msg.decode("utf-8", "replace")
                reply = self._request(conn, text)
                if reply is not None:
                    await conn.ws.send(reply)

    def _request(self, conn: _Conn, text: str) -> str | None:
        s = self._s
        try:
            obj = json.loads(text)
            header, body = obj["header"], obj.get("body") or {}
            if header.get("tr_id") == "PINGPONG":
                s.stats.pong_echoes += 1
                return None
            inp = body["input"]
            tr_id, tr_key = str(inp["tr_id"]), str(inp["tr_key"])
            tr_type = str(header["tr_type"])
            approval = str(header["approval_key"])
            custtype = str(header.get("custtype", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._ack("", "", "OPSP9999")
        if tr_type == "1":
            s.stats.subscribe_requests += 1
            s.stats.subscribes_per_connection[conn.index] += 1
        elif tr_type == "2":
            s.stats.unsubscribe_requests += 1
        appkey = s.approval.get(approval)
        if appkey is None:
            return self._ack(tr_id, tr_key, "OPSP0011")
        if custtype not in ("P", "B"):
            return self._ack(tr_id, tr_key, "OPSP8998")
        if tr_type not in ("1", "2"):
            return self._ack(tr_id, tr_key, "OPSP8997")
        if tr_id not in TR_IDS:
            return self._ack(tr_id, tr_key, "OPSP8991")
        if not is_symbol(tr_key):
            return self._ack(tr_id, tr_key, "OPSP8992")
        holder = s.owner.get(appkey)
        if holder is not None and holder is not conn:
            return self._ack(tr_id, tr_key, "OPSP8996")
        s.owner[appkey] = conn
        conn.appkey = appkey
        regs = s.registrations.setdefault(appkey, set())
        if tr_type == "2":
            if (tr_id, tr_key) not in regs:
                return self._ack(tr_id, tr_key, "OPSP0003")
            regs.discard((tr_id, tr_key))
            conn.subs.discard((tr_id, tr_key))
            return self._ack(tr_id, tr_key, "OPSP0001")
        if (tr_id, tr_key) in regs:
            conn.subs.add((tr_id, tr_key))
            return self._ack(tr_id, tr_key, "OPSP0002")
        if len(regs) >= s.cfg.max_registrations:
            return self._ack(tr_id, tr_key, "OPSP0008")
        regs.add((tr_id, tr_key))
        conn.subs.add((tr_id, tr_key))
        return self._ack(tr_id, tr_key, "OPSP0000")

    def _ack(self, tr_id: str, tr_key: str, code: str) -> str:
        """An ack as the real servers write it: rt_cd "0" only for a (un)subscribe done now
        (ALREADY IN SUBSCRIBE comes with "1"), and OPSP8996 as a session-level answer with
        tr_id "(null)", an empty tr_key and rt_cd "9"."""
        s = self._s
        s.stats.ack_codes[code] = s.stats.ack_codes.get(code, 0) + 1
        rt_cd = "0" if code in ("OPSP0000", "OPSP0001") else "1"
        if code == "OPSP8996":
            tr_id, tr_key, rt_cd = "(null)", "", "9"
        body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": code, "msg1": _MSG[code]}
        if code == "OPSP0000":
            body["output"] = {"iv": s.new_key(16), "key": s.new_key(32)}
        header = {"tr_id": tr_id, "tr_key": tr_key, "encrypt": "N"}
        return json.dumps({"header": header, "body": body})

    # --- outgoing ------------------------------------------------------------------------
    def _stalled(self, conn: _Conn) -> bool:
        cfg = self._s.cfg
        now = time.monotonic()
        if now < self._s.stall_until:
            return True
        if cfg.stall_every > 0 and cfg.stall_for > 0:
            phase = (now - conn.opened) % (cfg.stall_every + cfg.stall_for)
            return phase >= cfg.stall_every
        return False

    async def _keep(self, conn: _Conn) -> None:
        s = self._s
        last_ping = time.monotonic()
        gap = s.cfg.pingpong_every
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if s.cfg.drop_every > 0 and now - conn.opened >= s.cfg.drop_every:
                s.stats.drops += 1
                await conn.drop()
                return
            if s.cfg.pingpong_every > 0 and now - last_ping >= gap:
                last_ping = now
                gap = s.cfg.pingpong_every * (1 + s.rng.uniform(0, s.cfg.pingpong_jitter))
                if self._stalled(conn):
                    continue
                stamp = f"{to_kst(s.cfg.clock()):%Y%m%d%H%M%S}"
                msg = json.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}})
                with contextlib.suppress(ConnectionClosed):
                    await conn.ws.send(msg)
                    s.stats.pingpongs_sent += 1

    async def _feed(self, conn: _Conn) -> None:
        s = self._s
        st = s.stats
        rng = s.rng
        last = time.monotonic()
        owed = 0.0
        while True:
            await asyncio.sleep(s.cfg.batch_interval)
            now = time.monotonic()
            elapsed, last = now - last, now
            cfg = s.cfg
            if conn.dropping:
                return
            if not conn.subs or self._stalled(conn):
                owed = 0.0
                continue
            if s.injected and not await self._send_injected(conn):
                return
            ph = phase(to_kst(cfg.clock()))
            krx = cfg.market_hours == "krx"
            by_tr: dict[str, list[str]] = {}
            for tr, key in sorted(conn.subs):
                after = tr == AFTER_HOURS_TR
                if (ph == "after_hours") if after else (not krx or ph == "regular"):
                    by_tr.setdefault(tr, []).append(key)
            closing: list[str] = []
            if krx and ph == "closing":  # the closing auction's one print per symbol
                for tr, key in sorted(conn.subs):
                    if tr != AFTER_HOURS_TR:
                        closing.extend(
                            frame(tr, [r])
                            for r in s.market.auction_prints([key], wide=self._wide())
                        )
            if not by_tr and not closing:
                owed = 0.0
                continue
            # Cap the catch-up so a slow loop does not burst (a real feed would not either).
            owed = min(owed + elapsed * cfg.rate, max(1.0, cfg.rate * 0.25))
            n = int(owed) if by_tr else 0
            owed -= n
            groups = list(by_tr.items())
            frames: list[tuple[str, int]] = [(f, 1) for f in closing]  # (frame, its ticks)
            # A busy feed packs more records per frame; per-frame cost dominates at high rates.
            most = max(1, cfg.max_records, int(cfg.rate // 1000))
            while n > 0:
                k = min(n, rng.randint(1, most))
                n -= k
                tr_id, keys = groups[rng.randrange(len(groups))]
                kind = "after_hours" if tr_id == AFTER_HOURS_TR else "regular"
                recs = s.market.records(keys, k, kind=kind, wide=self._wide())
                if cfg.malformed > 0 and rng.random() < cfg.malformed:
                    frames.append((malformed(tr_id, recs, rng), 0))
                else:
                    frames.append((frame(tr_id, recs), k))
            # Counted as they go out: a connection dropped mid-batch sent only the first ones.
            for f, ticks in frames:
                if conn.dropping:
                    return
                try:
                    await conn.ws.send(f)
                except ConnectionClosed:
                    return
                st.frames_sent += 1
                st.ticks_sent += ticks
                if not ticks:
                    st.malformed_sent += 1

    def _wide(self) -> bool:
        """Whether a frame's records carry the 47th column (MARKET_CLS_CODE)."""
        share = self._s.cfg.wide_share
        return share > 0 and self._s.rng.random() < share

    async def _send_injected(self, conn: _Conn) -> bool:
        """Send the frames given to Simulator.inject as they are; False once closed."""
        s = self._s
        while s.injected:
            text = s.injected.popleft()
            try:
                await conn.ws.send(text)
            except ConnectionClosed:
                s.injected.appendleft(text)
                return False
            s.stats.injected_sent += 1
        return True
