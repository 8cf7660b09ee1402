"""HTTP clients for provider calls, size-capped reads and JSON requests.

Every client made here has bounded connect/read timeouts, follows no redirects (a redirect could
carry credentials elsewhere), and callers read bodies through `read_capped` so a hostile or
broken server cannot make us buffer unbounded data. With `enforce_policy=True` the URL policy
(`providers.http.netpolicy`) is applied to the address each connection actually goes to (see
`providers.http.transports`). `new_sdk_client` makes the same clients on `httpx2`, the stack the
openai SDK runs on.

Failures map to the typed errors of `providers.exceptions` (`providers.http.errors`).
"""

from __future__ import annotations

import functools
import json
import ssl
from types import ModuleType
from typing import Any

import httpx

from ..conf import app_settings
from ..exceptions import ProviderError, ResponseTooLarge, UnexpectedResponse
from .deadline import install as install_deadline
from .errors import display_name, error_for_response, error_for_transport
from .transports import policy_transports

# How much of an error body we read to explain a failure (the full cap applies to success bodies).
_ERROR_BODY_LIMIT = 64 * 1024


def default_timeout() -> httpx.Timeout:
    """Connect and read bounds from PROVIDERS_HTTP_CONNECT_TIMEOUT / PROVIDERS_HTTP_READ_TIMEOUT."""
    connect = float(app_settings.HTTP_CONNECT_TIMEOUT)
    read = float(app_settings.HTTP_READ_TIMEOUT)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client this process makes.

    httpx builds a fresh context for each client (loading the CA bundle: tens of milliseconds),
    which made every cold model build and every verification pay for it. Same defaults as
    httpx's own (certifi, or SSL_CERT_FILE / SSL_CERT_DIR); an SSLContext is safe to share."""
    return httpx.create_ssl_context()


def _new(lib: ModuleType, *, sync: bool, enforce_policy: bool, timeout: Any, kwargs: dict[str, Any]) -> Any:
    """A client of `lib` (`httpx` or `httpx2`) with our timeouts, no redirects, the shared TLS
    context, and with `enforce_policy` the connect-time URL policy (`providers.http.transports`)."""
    if enforce_policy and ("transport" in kwargs or "mounts" in kwargs or "proxy" in kwargs):
        # A custom transport or proxy would connect somewhere the policy never sees.
        raise TypeError("enforce_policy=True cannot be combined with transport, mounts or proxy")
    headers = kwargs.setdefault("headers", {})
    headers.setdefault("User-Agent", "IdeaForge/1.0")
    # Uncompressed answers only: the size caps count bytes as they arrive, and a small gzip body
    # can inflate to gigabytes (`cap_response` refuses an encoded reply).
    headers.setdefault("Accept-Encoding", "identity")
    verify = kwargs.setdefault("verify", shared_ssl_context())
    # Either stack's Timeout converts to the other's (httpx2.Timeout is what the SDKs take).
    options = {**kwargs, "timeout": lib.Timeout(**(timeout or default_timeout()).as_dict()), "follow_redirects": False}
    if enforce_policy:
        # An explicit transport also disables env proxies (HTTP(S)_PROXY), which would bypass the check.
        # The transport does the TLS, so it gets the verify setting (the client's is unused then).
        transports = policy_transports(lib)
        options["transport"] = transports[0 if sync else 1](verify=verify)
    # Every pool obeys a total deadline when the caller set one (`providers.http.deadline`).
    client = install_deadline((lib.Client if sync else lib.AsyncClient)(**options))
    client._ideaforge_user_urls = enforce_policy
    return client


def for_user_urls(client: Any) -> bool:
    """Whether `client` was made for URLs a user set (`enforce_policy=True`): then error messages
    carry none of the server's own text (`providers.http.errors`)."""
    return bool(getattr(client, "_ideaforge_user_urls", False))


def new_client(*, enforce_policy: bool, timeout: httpx.Timeout | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx.Client with our timeouts and no redirects; `enforce_policy` for user-set URLs."""
    return _new(httpx, sync=True, enforce_policy=enforce_policy, timeout=timeout, kwargs=kwargs)


def new_async_client(*, enforce_policy: bool, timeout: httpx.Timeout | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """Async twin of `new_client`."""
    return _new(httpx, sync=False, enforce_policy=enforce_policy, timeout=timeout, kwargs=kwargs)


def new_sdk_client(*, sync: bool, enforce_policy: bool, timeout: Any = None, **kwargs: Any) -> Any:
    """The same as `new_client` / `new_async_client` on `httpx2`, the openai SDK's own HTTP stack
    (an `httpx2.Client` or `AsyncClient`): the SDK drives it faster than a legacy httpx client.
    `timeout` may be an httpx or an httpx2 Timeout."""
    import httpx2  # comes with the openai SDK; imported only by its users

    return _new(httpx2, sync=sync, enforce_policy=enforce_policy, timeout=timeout, kwargs=kwargs)


# --- Capped reads and JSON requests ---------------------------------------------------------


def _limit(limit: int | None) -> int:
    return int(app_settings.HTTP_MAX_RESPONSE_BYTES) if limit is None else limit


def _check_declared_length(response: httpx.Response, limit: int) -> bool:
    """Raise if the declared length is over `limit`; True when the whole body may be read at once:
    its length is declared and within the limit, and it is not compressed (a compressed body can
    decode to far more than it declares). h11 never reads past a declared Content-Length."""
    headers = response.headers
    declared = headers.get("Content-Length")
    if declared is None or not declared.strip().isdigit():
        return False
    if int(declared) > limit:
        raise _too_large(response.status_code, limit)
    return headers.get("Content-Encoding", "identity").strip().lower() in ("", "identity")


def _too_large(status_code: int, limit: int, provider: str = "") -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the response is larger than the {limit}-byte limit", provider=provider, status_code=status_code
    )


def cap_response(response: Any, *, limit: int, provider: str = "") -> None:
    """Bound what reading `response` (an `httpx` or `httpx2` response whose headers have arrived)
    may take: ResponseTooLarge now if its Content-Length is over `limit`, and otherwise while the
    body is read, once more than `limit` bytes came off the wire (a chunked body or an event
    stream declares no length). A compressed reply (we ask for identity) is refused with
    UnexpectedResponse, since only raw bytes can be counted here. For clients whose bodies others
    read (the SDKs); one wrapper
    serves sync and async iteration. The response is closed by whoever reads it: httpx closes it
    when the error leaves the read, and an auth flow's error closes it too."""
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(response.status_code, limit, provider)
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # We asked for identity; the bytes counted below would be compressed ones, and what the
        # reader decodes could be any size.
        response.close()
        raise UnexpectedResponse(
            f"the provider sent a {encoding}-encoded answer although none was accepted",
            provider=provider,
            status_code=response.status_code,
        )
    lib = httpx if isinstance(response, httpx.Response) else _httpx2()
    response.stream = _capped_stream_class(lib)(response.stream, limit, provider, response.status_code)


def _httpx2() -> ModuleType:
    import httpx2

    return httpx2


@functools.cache
def _capped_stream_class(lib: ModuleType) -> type:
    """A byte stream wrapper for `lib` (httpx checks a response stream's class before iterating)."""

    class CappedStream(lib.SyncByteStream, lib.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any, limit: int, provider: str, status_code: int) -> None:
            self._inner, self._limit, self._provider, self._status = inner, limit, provider, status_code
            self._size = 0

        def _over(self, chunk: bytes) -> bool:
            self._size += len(chunk)
            return self._size > self._limit

        def _error(self) -> ResponseTooLarge:
            return _too_large(self._status, self._limit, self._provider)

        # The connection is dropped at once (not everyone who reads closes on an error).
        def __iter__(self) -> Any:
            for chunk in self._inner:
                if self._over(chunk):
                    self._inner.close()
                    raise self._error()
                yield chunk

        async def __aiter__(self) -> Any:
            async for chunk in self._inner:
                if self._over(chunk):
                    await self._inner.aclose()
                    raise self._error()
                yield chunk

        def close(self) -> None:
            self._inner.close()

        async def aclose(self) -> None:
            await self._inner.aclose()

    return CappedStream


def read_capped(response: httpx.Response, limit: int | None = None) -> bytes:
    """Read a streamed response's (decoded) body, raising ResponseTooLarge past `limit` bytes
    (default PROVIDERS_HTTP_MAX_RESPONSE_BYTES). Content-Length is checked before reading."""
    limit = _limit(limit)
    if _check_declared_length(response, limit):
        return response.read()
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            response.close()
            raise _too_large(response.status_code, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def aread_capped(response: httpx.Response, limit: int | None = None) -> bytes:
    """Async twin of `read_capped`."""
    limit = _limit(limit)
    if _check_declared_length(response, limit):
        return await response.aread()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            await response.aclose()
            raise _too_large(response.status_code, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def read_error_body(response: httpx.Response) -> bytes:
    """Up to 64 KiB of an error response, for `error_for_response` (never raises for size)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _ERROR_BODY_LIMIT:
            break
    return b"".join(chunks)[:_ERROR_BODY_LIMIT]


async def aread_error_body(response: httpx.Response) -> bytes:
    """Async twin of `read_error_body`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _ERROR_BODY_LIMIT:
            break
    return b"".join(chunks)[:_ERROR_BODY_LIMIT]


def parse_json(body: bytes, *, provider: str) -> Any:
    """`body` as JSON, or UnexpectedResponse naming `provider` (never echoing the body)."""
    try:
        return json.loads(body)
    except ValueError:
        raise UnexpectedResponse(
            f"{display_name(provider)} answered with something that is not JSON", provider=provider
        ) from None


def _tag(error: ProviderError, provider: str) -> ProviderError:
    error.provider = error.provider or provider
    return error


def request_json(
    client: httpx.Client, method: str, url: str, *, provider: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> Any:
    """Send a request, read the capped body, map any failure to a typed error, parse JSON."""
    try:
        with client.stream(method, url, headers=headers, **kwargs) as response:
            if not response.is_success:
                error = error_for_response(
                    response, provider=provider, body=read_error_body(response), remote_text=not for_user_urls(client)
                )
                assert error is not None
                raise error
            body = read_capped(response)
    except httpx.HTTPError as exc:
        raise error_for_transport(exc, provider=provider) from exc
    except ResponseTooLarge as exc:
        raise _tag(exc, provider) from None
    return parse_json(body, provider=provider)


async def arequest_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """Async twin of `request_json`."""
    try:
        async with client.stream(method, url, headers=headers, **kwargs) as response:
            if not response.is_success:
                error = error_for_response(
                    response,
                    provider=provider,
                    body=await aread_error_body(response),
                    remote_text=not for_user_urls(client),
                )
                assert error is not None
                raise error
            body = await aread_capped(response)
    except httpx.HTTPError as exc:
        raise error_for_transport(exc, provider=provider) from exc
    except ResponseTooLarge as exc:
        raise _tag(exc, provider) from None
    return parse_json(body, provider=provider)


def get_json(
    client: httpx.Client,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    provider: str,
    params: dict[str, Any] | None = None,
) -> Any:
    """A streamed GET whose body is capped, errors mapped and JSON parsed."""
    return request_json(client, "GET", url, provider=provider, headers=headers, params=params)


async def aget_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    provider: str,
    params: dict[str, Any] | None = None,
) -> Any:
    """Async twin of `get_json`."""
    return await arequest_json(client, "GET", url, provider=provider, headers=headers, params=params)
