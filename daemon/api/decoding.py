"""Request bodies that do not decode: INVALID_ARGUMENT with the message type, for every RPC.

grpc turns a request deserializer that raises into UNKNOWN "Unexpected DecodeError", which
tells a client nothing it can act on. :class:`RequestDecoding` wraps every handler's
deserializer so a body that is not the method's request message reaches the handler as an
:class:`Undecodable`, and the handler ends the call with INVALID_ARGUMENT naming the
expected message — before any servicer sees it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from observer.daemon.api.intercept import HandlerInterceptor

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class Undecodable:
    """What a body that does not decode becomes (never passed to a servicer)."""

    expected: str
    error: str


def _expected(deserializer: Callable[[bytes], object]) -> str:
    """The message type a deserializer builds (``FromString`` of a generated class)."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "")) or "the method's request message"


def _tolerant(deserializer: Callable[[bytes], object]) -> Callable[[bytes], object]:
    expected = _expected(deserializer)

    def decode(body: bytes) -> object:
        try:
            return deserializer(body)
        except Exception as e:  # any failure to parse client bytes is the client's error
            return Undecodable(expected, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)

    return decode


async def _refuse(bad: Undecodable, context: Context) -> None:
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request body is not a valid {bad.expected} ({bad.error}); send that message "
        "(grpcurl: -d with its JSON form).",
    )


def _checked_stream(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
    async def checked() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Undecodable):
                await _refuse(request, context)
            yield request

    return checked()


def _wrap(behaviour: Callable[..., Any], streaming_request: bool) -> Callable[..., Any]:
    """The same kind of behaviour (coroutine or async generator) that refuses bad bodies."""

    async def screen(request: Any, context: Context) -> Any:
        if streaming_request:
            return _checked_stream(request, context)
        if isinstance(request, Undecodable):
            await _refuse(request, context)
        return request

    if inspect.isasyncgenfunction(behaviour):

        async def generator(request: Any, context: Context) -> AsyncIterator[Any]:
            checked = await screen(request, context)
            async for response in behaviour(checked, context):
                yield response

        return generator

    async def coroutine(request: Any, context: Context) -> Any:
        return await behaviour(await screen(request, context), context)

    return coroutine


def _async(behaviour: Callable[..., Any] | None) -> bool:
    return inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)


def tolerant_handler(handler: Handler) -> Handler:
    """``handler`` with a deserializer that never raises and a behaviour that refuses."""
    des, ser = handler.request_deserializer, handler.response_serializer
    behaviours = (
        handler.unary_unary, handler.unary_stream, handler.stream_unary, handler.stream_stream,
    )  # fmt: skip
    if des is None or not any(_async(b) for b in behaviours):
        return handler  # nothing decodes here, or a synchronous handler: left as it is
    decode = _tolerant(des)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_wrap(handler.unary_unary, False), decode, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_wrap(handler.unary_stream, False), decode, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_wrap(handler.stream_unary, True), decode, ser)
    if handler.stream_stream is not None:
        behaviour = _wrap(handler.stream_stream, True)
        return grpc.stream_stream_rpc_method_handler(behaviour, decode, ser)
    return handler


class RequestDecoding(HandlerInterceptor):
    """Makes every handler answer INVALID_ARGUMENT to a body that does not decode."""

    def replace(self, handler: Handler, details: grpc.HandlerCallDetails) -> Handler:
        return tolerant_handler(handler)
