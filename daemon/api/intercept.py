"""A server interceptor that stands a call's handler in for another (the token check, the
request decoding): the one place that awaits the continuation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]


class HandlerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Calls :meth:`replace` with every call's handler (calls with none pass through)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        return handler if handler is None else self.replace(handler, handler_call_details)

    def replace(self, handler: Handler, details: grpc.HandlerCallDetails) -> Handler:
        raise NotImplementedError
