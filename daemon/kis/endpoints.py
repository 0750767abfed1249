"""Where the KIS servers are, and which realtime TR each market uses.

The daemon talks to the real servers, the paper ("mock") servers or the built-in
simulator through the same client code; only these URLs differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from observer.daemon.config import Config
from observer.daemon.errors import ConfigError

REST_URLS = {
    "real": "https://openapi.koreainvestment.com:9443",
    "paper": "https://openapivts.koreainvestment.com:29443",
}
WS_URLS = {
    "real": "ws://ops.koreainvestment.com:21000",
    "paper": "ws://ops.koreainvestment.com:31000",
}
#: Realtime trade TR per OBSERVER_MARKET value.
REALTIME_TR = {"KRX": "H0STCNT0", "NXT": "H0NXCNT0", "UN": "H0UNCNT0"}
#: KRX after-hours single-price trades, 16:00-18:00 (OBSERVER_AFTER_HOURS).
AFTER_HOURS_TR = "H0STOUP0"
#: inquire-price's FID_COND_MRKT_DIV_CODE per OBSERVER_MARKET.
QUOTE_MARKET = {"KRX": "J", "NXT": "NX", "UN": "UN"}
#: REST quote TR (inquire-price).
QUOTE_TR = "FHKST01010100"
QUOTE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"
TOKEN_PATH = "/oauth2/tokenP"
REVOKE_PATH = "/oauth2/revokeP"
APPROVAL_PATH = "/oauth2/Approval"
#: KIS REST rate limits per app key (requests/s); we pace below them.
REST_LIMIT = {"real": 20.0, "paper": 2.0}
SAFE_REST_RATE = {"real": 15.0, "paper": 1.5}


@dataclass(frozen=True)
class Endpoints:
    rest_url: str
    ws_url: str
    tr_id: str


def realtime_tr(market: str) -> str:
    try:
        return REALTIME_TR[market]
    except KeyError:
        raise ConfigError(
            f"OBSERVER_MARKET={market!r} has no realtime TR; use one of KRX, NXT or UN."
        ) from None


def realtime_trs(cfg: Config) -> tuple[str, ...]:
    """The realtime TRs each symbol is subscribed to: the market's trade TR, and H0STOUP0
    when OBSERVER_AFTER_HOURS is on."""
    trade = realtime_tr(cfg.market)
    return (trade, AFTER_HOURS_TR) if cfg.after_hours else (trade,)


def endpoints_for(cfg: Config) -> Endpoints:
    """The KIS URLs for ``cfg``: the overrides when set, else the KIS_ENV defaults.

    The simulator case (no credentials) is resolved by the composition root, which starts
    the simulator and passes its URLs as overrides.
    """
    env = cfg.kis_env or "real"
    rest = cfg.kis_rest_url or REST_URLS.get(env, "")
    ws = cfg.kis_ws_url or WS_URLS.get(env, "")
    if not rest or not ws:
        raise ConfigError(
            f"KIS_ENV={cfg.kis_env!r} names no KIS servers; set KIS_ENV=real or paper, "
            "or set both KIS_REST_URL and KIS_WS_URL."
        )
    return Endpoints(rest.rstrip("/"), ws, realtime_tr(cfg.market))


def rest_rate(cfg: Config) -> float:
    """Requests per second for the swing poller: OBSERVER_REST_RATE or a safe default."""
    if cfg.rest_rate > 0:
        return cfg.rest_rate
    return SAFE_REST_RATE.get(cfg.kis_env or "real", SAFE_REST_RATE["real"])
