"""The control token: one server interceptor guards every ControlService method.

A control call must carry ``authorization: Bearer <OBSERVER_CONTROL_TOKEN>``. The scheme is
case-insensitive and separated from the token by one or more spaces, as RFC 6750 writes it
(``"Bearer" 1*SP b64token``); the token is compared in constant time and must match
exactly — blanks around it are not part of a token and are refused. Status, Tail, health
and reflection stay open. The token is never logged or echoed.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import grpc

from observer.daemon.api.intercept import HandlerInterceptor
from observer.daemon.errors import ObserverError, Precondition

log = logging.getLogger(__name__)

#: Methods behind the token: every method of this service.
PROTECTED = "/observer.v1.ControlService/"
_CREDENTIALS = re.compile(r"([A-Za-z]+) +(\S+)", re.ASCII)


class Unauthenticated(ObserverError):
    grpc_code = "UNAUTHENTICATED"


def check_bearer(
    metadata: Iterable[tuple[str, str | bytes]] | None, token: str
) -> ObserverError | None:
    """None when ``metadata`` carries the control token; otherwise the error to send."""
    if not token:
        return Precondition(
            "control calls are disabled: set OBSERVER_CONTROL_TOKEN on the daemon and send "
            "'authorization: Bearer <token>'."
        )
    header = ""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            header = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            break
    m = _CREDENTIALS.fullmatch(header)
    if (
        m is not None
        and m.group(1).lower() == "bearer"
        and hmac.compare_digest(m.group(2).encode(), token.encode())
    ):
        return None
    return Unauthenticated(
        "missing or wrong control token: send 'authorization: Bearer <OBSERVER_CONTROL_TOKEN>'."
        if header
        else "control calls need 'authorization: Bearer <OBSERVER_CONTROL_TOKEN>' metadata."
    )


if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]


def _refusal(handler: Handler, err: ObserverError, method: str) -> Handler:
    """A handler of the same kind as ``handler`` that only refuses the call."""

    async def refuse(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        log.warning(
            "control call %s refused from %s: %s", method, context.peer(), type(err).__name__
        )
        await context.abort(grpc.StatusCode[err.grpc_code], str(err))

    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse, des, ser)
    return grpc.unary_unary_rpc_method_handler(refuse, des, ser)


class BearerAuth(HandlerInterceptor):
    """Refuses ControlService calls without the control token, before any servicer runs."""

    def __init__(self, token: str) -> None:
        self._token = token

    def replace(self, handler: Handler, details: grpc.HandlerCallDetails) -> Handler:
        method = details.method
        if not method.startswith(PROTECTED):
            return handler
        err = check_bearer(details.invocation_metadata, self._token)
        return handler if err is None else _refusal(handler, err, method.rsplit("/", 1)[-1])
