"""The asyncio client: the same calls as the blocking one over a grpc.aio channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf import message

from ._config import ClientConfig
from ._errors import DeadlineExceeded, GatewayError, from_rpc_error
from ._shared import Metadata, MethodInfo, ResponseT, build_request, call_metadata, retry_delay


class AsyncClientBase:
    """Base of the generated `AsyncClient`: owns a grpc.aio channel; `async with` closes it."""

    def __init__(self, config: ClientConfig | None = None, **overrides: Any) -> None:
        self.config = ClientConfig.from_env(**overrides) if config is None else config
        options = [*self.config.channel_options]
        if self.config.tls is not None:
            options += self.config.tls.channel_options()
            self.channel = grpc.aio.secure_channel(self.config.target, self.config.tls.credentials(), options)
        else:
            self.channel = grpc.aio.insecure_channel(self.config.target, options)
        self._callables: dict[str, Any] = {}
        self._bind_services()

    @classmethod
    def from_env(cls, **overrides: Any) -> Any:
        """A client configured by ENCORD_GATEWAY_* variables, with `overrides` (ClientConfig fields) on top."""
        return cls(ClientConfig.from_env(**overrides))

    def _bind_services(self) -> None:  # the generated AsyncClient adds one attribute per service
        pass

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _callable(self, info: MethodInfo[Any, Any]) -> Any:
        found = self._callables.get(info.path)
        if found is None:
            make = getattr(self.channel, info.kind)
            found = make(
                info.path,
                request_serializer=info.request_class.SerializeToString,
                response_deserializer=info.response_class.FromString,
            )
            self._callables[info.path] = found
        return found

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.config.timeout if timeout is None else timeout)

    async def _unary(
        self,
        info: MethodInfo[Any, ResponseT],
        request: message.Message | None,
        fields: Mapping[str, Any],
        *,
        timeout: float | None,
        request_id: str | None,
        metadata: Metadata,
    ) -> ResponseT:
        built = build_request(info, request, fields)
        headers, used_id = call_metadata(self.config, info, built, request_id, metadata)
        deadline = self._deadline(timeout)
        call = self._callable(info)
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded(f"{info.path}: deadline passed before attempt {attempt}", request_id=used_id)
            try:
                response: ResponseT = await call(built, timeout=remaining, metadata=headers)
                return response
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error, used_id)
            delay = retry_delay(self.config, info, error, attempt, request_id is not None, deadline - time.monotonic())
            if delay is None:
                raise error
            await asyncio.sleep(delay)

    async def _paged(
        self,
        info: MethodInfo[Any, Any],
        request: message.Message | None,
        fields: Mapping[str, Any],
        *,
        timeout: float | None,
        request_id: str | None,
        metadata: Metadata,
    ) -> AsyncIterator[Any]:
        assert info.items_field is not None
        current = build_request(info, request, fields)
        while True:
            page: Any = await self._unary(info, current, {}, timeout=timeout, request_id=request_id, metadata=metadata)
            for item in getattr(page, info.items_field):
                yield item
            if not page.next_page_token:
                return
            following = info.request_class()
            following.CopyFrom(current)
            following.page_token = page.next_page_token
            current = following

    async def _server_stream(
        self,
        info: MethodInfo[Any, Any],
        request: message.Message | None,
        fields: Mapping[str, Any],
        *,
        timeout: float | None,
        request_id: str | None,
        metadata: Metadata,
    ) -> AsyncIterator[Any]:
        built = build_request(info, request, fields)
        headers, used_id = call_metadata(self.config, info, built, request_id, metadata)
        deadline = self._deadline(timeout)
        attempt = 0
        while True:
            attempt += 1
            received = False
            call = self._callable(info)(built, timeout=deadline - time.monotonic(), metadata=headers)
            try:
                async for item in call:
                    received = True
                    yield item
                return
            except grpc.RpcError as rpc_error:
                error: GatewayError = from_rpc_error(rpc_error, used_id)
            finally:
                call.cancel()  # a consumer that stops early must not leave the stream open
            remaining = deadline - time.monotonic()
            delay = (
                None if received else retry_delay(self.config, info, error, attempt, request_id is not None, remaining)
            )
            if delay is None:
                raise error
            await asyncio.sleep(delay)

    async def _client_stream(
        self,
        info: MethodInfo[Any, ResponseT],
        requests: AsyncIterable[message.Message] | Iterable[message.Message],
        *,
        timeout: float | None,
        request_id: str | None,
        metadata: Metadata,
    ) -> ResponseT:
        """A client stream is sent once: its messages cannot be replayed, so it is never retried."""
        if isinstance(requests, AsyncIterable):
            iterator: AsyncIterator[message.Message] = aiter(requests)
        else:
            iterator = _as_async(requests)
        first = await anext(iterator, None) or info.request_class()
        headers, used_id = call_metadata(self.config, info, first, request_id, metadata)

        async def messages() -> AsyncIterator[message.Message]:
            yield first
            async for item in iterator:
                yield item

        try:
            response: ResponseT = await self._callable(info)(
                messages(), timeout=self.config.timeout if timeout is None else timeout, metadata=headers
            )
        except grpc.RpcError as rpc_error:
            raise from_rpc_error(rpc_error, used_id) from None
        return response


async def _as_async(items: Iterable[message.Message]) -> AsyncIterator[message.Message]:
    for item in items:
        yield item


class AsyncServiceBase:
    """Base of a generated asyncio service wrapper."""

    service_name = ""

    def __init__(self, client: AsyncClientBase) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.service_name} at {self._client.config.target}>"
