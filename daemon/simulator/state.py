"""The simulator's settings (fault knobs included) and the state its servers share."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from observer.daemon.config import Config
from observer.daemon.simulator.market import Market, load_universe


@dataclass
class SimConfig:
    """Simulator settings. Fault knobs may be changed while it runs (read on every use)."""

    symbols: tuple[str, ...] = ()  # added to the universe file's symbols
    rate: float = 200.0  # ticks per second per websocket session
    seed: int = 0  # 0 = random
    max_records: int = 8  # records per frame at most
    batch_interval: float = 0.01  # seconds between two frame batches
    #: PINGPONG on a quiet connection about every 100 s (as KIS's servers do), each gap
    #: drawn from [every, every x (1 + jitter)].
    pingpong_every: float = 100.0
    pingpong_jitter: float = 0.3
    max_registrations: int = 41
    token_ttl: float = 86_400.0
    reissue_limit: float = 60.0  # EGW00133 when the same app key asks again within this
    rest_rate_limit: float = 20.0  # requests/s per app key before EGW00201
    market_hours: str = "always"  # always | krx
    clock: Callable[[], float] = time.time
    # --- fault knobs -------------------------------------------------------------------
    drop_every: float = 0.0  # abort every websocket connection after this many seconds
    malformed: float = 0.0  # fraction of frames sent malformed
    #: Fraction of frames whose records carry 47 columns (MARKET_CLS_CODE, newer servers).
    wide_share: float = 0.0
    stall_every: float = 0.0  # after this many seconds of sending ...
    stall_for: float = 0.0  # ... send nothing (not even PINGPONG) for this long
    refuse_tokens: bool = False  # /oauth2/tokenP and /oauth2/Approval answer an error
    #: False models a server that has not noticed a drop yet: registrations survive the
    #: connection, so a reconnect's re-subscribe gets OPSP0002 ALREADY IN SUBSCRIBE.
    forget_on_close: bool = True

    @classmethod
    def from_config(cls, cfg: Config) -> SimConfig:
        return cls(
            symbols=tuple(dict.fromkeys(cfg.symbols + cfg.swing_symbols)),
            rate=cfg.sim_rate,
            seed=cfg.sim_seed,
            drop_every=cfg.sim_drop_every,
            malformed=cfg.sim_malformed,
            market_hours=cfg.sim_market_hours,
            wide_share=cfg.sim_wide_share,
        )


@dataclass
class SimStats:
    token_issuances: int = 0
    token_refusals: int = 0  # EGW00133 answers
    approval_issuances: int = 0
    rest_requests: int = 0
    rate_limited: int = 0  # EGW00201 answers
    connections: int = 0
    active_connections: int = 0
    drops: int = 0
    subscribe_requests: int = 0
    unsubscribe_requests: int = 0
    #: subscribe requests (tr_type 1) received on each connection, in connection order
    subscribes_per_connection: list[int] = field(default_factory=list)
    ack_codes: dict[str, int] = field(default_factory=dict)
    pingpongs_sent: int = 0
    pong_echoes: int = 0
    frames_sent: int = 0
    ticks_sent: int = 0
    malformed_sent: int = 0
    injected_sent: int = 0  # frames given to Simulator.inject, sent as they were
    #: inquire-price requests per FID_COND_MRKT_DIV_CODE (J, NX, UN)
    quote_markets: dict[str, int] = field(default_factory=dict)


class SimState:
    """Tokens, keys, registrations and counters shared by the REST and websocket servers."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        seed = cfg.seed or random.SystemRandom().randrange(1, 2**31)
        self.seed = seed
        self.rng = random.Random(seed)
        universe = load_universe()
        self.market = Market(universe, random.Random(seed + 1), cfg.clock)
        self.stats = SimStats()
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (appkey, expires_at)
        self.last_issue: dict[str, float] = {}  # appkey -> POSIX time of last issuance
        self.approval: dict[str, str] = {}  # approval key -> appkey
        self.requests: dict[str, deque[float]] = {}  # appkey -> recent REST request times
        self.registrations: dict[str, set[tuple[str, str]]] = {}  # appkey -> {(tr_id, tr_key)}
        self.owner: dict[str, object] = {}  # appkey -> the connection holding its session
        self.stall_until = 0.0  # monotonic; set by Simulator.stall()
        self.injected: deque[str] = deque()  # raw frames to send next (Simulator.inject)

    def new_key(self, n: int) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return "".join(self.rng.choice(alphabet) for _ in range(n))
