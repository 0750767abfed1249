"""The simulator's KIS REST endpoints: token, revoke, approval key, inquire-price.

Error answers use the envelopes KIS uses: ``error_code``/``error_description`` for the
OAuth endpoints, ``rt_cd``/``msg_cd``/``msg1`` for quotes.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from observer.daemon.clock import to_kst
from observer.daemon.kis import codes
from observer.daemon.kis.endpoints import (
    APPROVAL_PATH,
    QUOTE_MARKET,
    QUOTE_PATH,
    QUOTE_TR,
    REVOKE_PATH,
    TOKEN_PATH,
)
from observer.daemon.simulator.httpd import Request
from observer.daemon.simulator.state import SimState
from observer.daemon.symbols import is_symbol

Reply = tuple[int, dict[str, Any]]
#: Length of the access tokens the simulator issues.
TOKEN_CHARS = 40
#: A token asked for again within this many seconds of its issue is the same token.
SAME_TOKEN_WITHIN = 6 * 3600.0
#: inquire-price's market codes: KRX (J), NXT (NX), integrated (UN).
QUOTE_MARKETS = frozenset(QUOTE_MARKET.values())


def _oauth_error(code: str, text: str) -> Reply:
    return 403, {"error_code": code, "error_description": text}


def _quote_error(code: str, text: str) -> Reply:
    return 500, {"rt_cd": "1", "msg_cd": code, "msg1": text}


class RestApi:
    def __init__(self, state: SimState) -> None:
        self._s = state

    def __call__(self, req: Request) -> Reply:
        self._s.stats.rest_requests += 1
        if req.method == "POST" and req.path == TOKEN_PATH:
            return self._token(req.json())
        if req.method == "POST" and req.path == REVOKE_PATH:
            return self._revoke(req.json())
        if req.method == "POST" and req.path == APPROVAL_PATH:
            return self._approval(req.json())
        if req.method == "GET" and req.path == QUOTE_PATH:
            return self._quote(req)
        return 404, {"rt_cd": "1", "msg_cd": "EGW00000", "msg1": f"no such API {req.path}"}

    def _token(self, body: dict[str, Any]) -> Reply:
        s = self._s
        key, secret = str(body.get("appkey", "")), str(body.get("appsecret", ""))
        if body.get("grant_type") != "client_credentials" or not key or not secret:
            return _oauth_error("EGW00002", "grant_type, appkey and appsecret are required")
        if s.cfg.refuse_tokens:
            return _oauth_error("EGW00103", "invalid AppKey (simulator refuse-tokens fault)")
        now = s.cfg.clock()
        last = s.last_issue.get(key)
        if last is not None and now - last < s.cfg.reissue_limit:
            s.stats.token_refusals += 1
            return _oauth_error(
                codes.TOKEN_REISSUE_LIMIT, "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"
            )
        s.last_issue[key] = now
        s.stats.token_issuances += 1
        # KIS gives the same token again when it issued one to this key within 6 hours.
        recent = [(t, exp) for t, (k, exp) in s.tokens.items()
                  if k == key and exp - s.cfg.token_ttl > now - SAME_TOKEN_WITHIN and exp > now]  # fmt: skip
        if recent:
            token, expires = recent[-1]
        else:
            token = s.new_key(TOKEN_CHARS)
            expires = now + s.cfg.token_ttl
            s.tokens[token] = (key, expires)
        return 200, {
            "access_token": token,
            "access_token_token_expired": f"{to_kst(expires):%Y-%m-%d %H:%M:%S}",
            "token_type": "Bearer",
            "expires_in": int(s.cfg.token_ttl),
        }

    def _revoke(self, body: dict[str, Any]) -> Reply:
        self._s.tokens.pop(str(body.get("token", "")), None)
        return 200, {"code": 200, "message": "access token revoked"}

    def _approval(self, body: dict[str, Any]) -> Reply:
        s = self._s
        key, secret = str(body.get("appkey", "")), str(body.get("secretkey", ""))
        if body.get("grant_type") != "client_credentials" or not key or not secret:
            return _oauth_error("EGW00002", "grant_type, appkey and secretkey are required")
        if s.cfg.refuse_tokens:
            return _oauth_error("EGW00103", "invalid AppKey (simulator refuse-tokens fault)")
        h = f"{s.rng.getrandbits(128):032x}"
        approval = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"  # 36 chars
        s.approval[approval] = key
        s.stats.approval_issuances += 1
        return 200, {"approval_key": approval}

    def _quote(self, req: Request) -> Reply:
        s = self._s
        auth = req.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        entry = s.tokens.get(token)
        if entry is None:
            if len(token) != TOKEN_CHARS:  # not one of the tokens this server issues
                return _quote_error(codes.TOKEN_INVALID, "유효하지 않은 token 입니다")
            return _quote_error(codes.TOKEN_NOT_FOUND, "token을 찾을 수 없습니다")
        appkey, expires = entry
        if expires <= s.cfg.clock():
            return _quote_error(codes.TOKEN_EXPIRED, "기간이 만료된 token 입니다")
        if req.headers.get("appkey") != appkey:
            return _quote_error("EGW00103", "appkey does not match the token")
        if req.headers.get("tr_id") != QUOTE_TR:
            return _quote_error("EGW00205", f"tr_id must be {QUOTE_TR}")
        window = s.requests.setdefault(appkey, deque())
        now = time.monotonic()
        while window and now - window[0] > 1.0:
            window.popleft()
        if len(window) >= s.cfg.rest_rate_limit:
            s.stats.rate_limited += 1
            return _quote_error(codes.RATE_LIMITED, "초당 거래건수를 초과하였습니다.")
        window.append(now)
        market = req.query.get("FID_COND_MRKT_DIV_CODE", "")
        if market not in QUOTE_MARKETS:
            return _quote_error("OPSQ2001", f"invalid FID_COND_MRKT_DIV_CODE {market[:4]!r}")
        s.stats.quote_markets[market] = s.stats.quote_markets.get(market, 0) + 1
        symbol = req.query.get("FID_INPUT_ISCD", "")
        if not is_symbol(symbol):
            return _quote_error("OPSQ2001", f"invalid FID_INPUT_ISCD {symbol[:12]!r}")
        return 200, {
            "rt_cd": "0",
            "msg_cd": "MCA00000",
            "msg1": "정상처리 되었습니다.",
            "output": s.market.quote(symbol),
        }
