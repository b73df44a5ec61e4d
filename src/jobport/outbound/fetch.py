"""Outbound HTTP behind the SSRF guard: capped GETs (super.AI `inputsFileUrl`) and webhook POSTs.

- `fetch_limited` follows redirects by hand, re-checking every hop with the `UrlGuard`, streams the
  body and stops reading as soon as it passes `max_bytes` (a `Content-Length` above the cap is
  refused before reading), and keeps one deadline across all hops.
- `post_json_guarded` delivers a webhook: guard check, one POST, redirects not followed (the 3xx is
  returned for the caller to treat as a failure), response body capped.
- Every failure is a `FetchError` whose `kind` is one of `FETCH_ERROR_KINDS` and whose message names
  the URL without credentials or query string (`redact_url`) and what to do.

DNS rebinding: the guard resolves a host before the request, and a plain client would resolve it
again when connecting, possibly to another address. Clients built here (`guarded_client`, used when
no `client` is passed) connect through `GuardedTransport`, whose network backend vets the host
with `UrlGuard.check_host` at connect time and dials only the vetted IP addresses, while the Host
header and the TLS SNI / certificate check still use the host name. A caller-supplied `client` keeps
whatever transport it has: pass one from `guarded_client` to keep that protection.

Limits of the deadline: DNS resolution (`getaddrinfo`) cannot be interrupted, and a read already
waiting when the deadline passes may block for up to the time that was left when its hop started,
so a hostile server can stretch a call to at most about twice `timeout` plus DNS time.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import httpcore
import httpx
from httpcore import SOCKET_OPTION

from jobport.outbound.guard import UrlGuard, UrlRefused, redact_url

FetchErrorKind = Literal["refused", "unreachable", "too_large", "http_status", "timeout", "too_many_redirects"]
FETCH_ERROR_KINDS: tuple[FetchErrorKind, ...] = (
    "refused", "unreachable", "too_large", "http_status", "timeout", "too_many_redirects"
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_HEADERS = {"user-agent": "jobport", "accept-encoding": "identity"}
WEBHOOK_RESPONSE_MAX_BYTES = 64 * 1024
_UNSAFE_COPY_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


@dataclass(frozen=True)
class FetchResult:
    content: bytes
    content_type: str | None
    final_url: str


class FetchError(Exception):
    """An outbound request failed; `kind` says how (see `FETCH_ERROR_KINDS`)."""

    def __init__(self, message: str, kind: FetchErrorKind, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status_code = status_code


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore network backend that vets the host with the guard and dials only vetted addresses."""

    def __init__(self, guard: UrlGuard, inner: httpcore.NetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self._guard.check_host(host, port):
            try:
                return self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # check_host returns at least one address or raises
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through the URL guard")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """`httpx.HTTPTransport` whose connections go through `GuardedBackend` (no proxies, no env)."""

    def __init__(self, guard: UrlGuard, *, verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = _DEFAULT_LIMITS) -> None:
        ssl_context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(
            verify=verify, trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx 0.28 has no public hook for the network backend: replace the pool it built.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )


def guarded_client(guard: UrlGuard, *, timeout: float = 10.0,
                   verify: ssl.SSLContext | bool = True) -> httpx.Client:
    """An httpx client that never follows redirects and connects only to addresses the guard vetted."""
    return httpx.Client(transport=GuardedTransport(guard, verify=verify), follow_redirects=False,
                        trust_env=False, timeout=timeout)


def fetch_limited(
    url: str,
    *,
    max_bytes: int,
    guard: UrlGuard,
    timeout: float = 10.0,
    max_redirects: int = 5,
    client: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
) -> FetchResult:
    """GET `url` (at most `max_bytes` of body, `timeout` seconds in all); raises `FetchError`."""
    deadline = _Deadline(timeout)
    current = _checked_url(guard, url)
    with _client_scope(client, guard, timeout) as http:
        for _ in range(max_redirects + 1):
            with _mapped_errors(current, deadline), _open(http, "GET", current, headers, deadline) as response:
                location = _redirect_target(response, current)
                if location is None:
                    _require_success(response, current)
                    content = _read_capped(response, max_bytes, current, deadline)
                    return FetchResult(content, response.headers.get("content-type"), str(current))
            current = _checked_url(guard, location)
    raise FetchError(
        f"{redact_url(url)} redirected more than {max_redirects} times (last to {redact_url(current)}). "
        "Send the final URL of the file directly.", "too_many_redirects")


def post_json_guarded(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    guard: UrlGuard,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    max_response_bytes: int = WEBHOOK_RESPONSE_MAX_BYTES,
) -> httpx.Response:
    """POST `body` as JSON to a webhook `url`; the response (any status, body cut at
    `max_response_bytes`) is returned, redirects included. Raises `FetchError` when refused,
    unreachable or timed out."""
    deadline = _Deadline(timeout)
    target = _checked_url(guard, url)
    sent_headers = _merged_headers({"content-type": "application/json"}, headers)
    with _client_scope(client, guard, timeout) as http, _mapped_errors(target, deadline):
        with _open(http, "POST", target, sent_headers, deadline, content=body) as response:
            prefix = _read_prefix(response, max_response_bytes, target, deadline)
            return _detached_copy(response, prefix)


class _Deadline:
    """One time budget shared by every hop of a call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def timeout_error(self, url: httpx.URL) -> FetchError:
        return FetchError(f"{redact_url(url)} did not answer within {self.seconds:g} s. Check the host is up "
                          "and fast enough, or retry later.", "timeout")

    def enforce(self, url: httpx.URL) -> None:
        if self.remaining() <= 0:
            raise self.timeout_error(url)


def _checked_url(guard: UrlGuard, url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        guard.check(parsed)
    except httpx.InvalidURL as exc:
        raise FetchError(f"refused {redact_url(url)}: not a valid URL ({exc}). Send an absolute http(s) URL.",
                         "refused") from None
    except UrlRefused as exc:
        raise FetchError(str(exc), exc.kind) from None
    return parsed


@contextmanager
def _client_scope(client: httpx.Client | None, guard: UrlGuard, timeout: float) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with guarded_client(guard, timeout=timeout) as owned:
        yield owned


@contextmanager
def _mapped_errors(url: httpx.URL, deadline: _Deadline) -> Iterator[None]:
    """Turn guard refusals at connect time and httpx errors into `FetchError`s."""
    shown = redact_url(url)
    try:
        yield
    except UrlRefused as exc:
        raise FetchError(str(exc), exc.kind) from None
    except httpx.TimeoutException:
        raise deadline.timeout_error(url) from None
    except httpx.RequestError as exc:
        raise FetchError(f"cannot reach {shown}: {type(exc).__name__}: {exc or 'no detail'}. Check the host "
                         "is up and accepts connections, or retry later.", "unreachable") from None


@contextmanager
def _open(http: httpx.Client, method: str, url: httpx.URL, headers: Mapping[str, str] | None,
          deadline: _Deadline, content: bytes | None = None) -> Iterator[httpx.Response]:
    deadline.enforce(url)
    request = http.build_request(method, url, headers=_merged_headers(DEFAULT_HEADERS, headers),
                                 content=content, timeout=deadline.remaining())
    response = http.send(request, stream=True, follow_redirects=False)
    try:
        yield response
    finally:
        response.close()


def _merged_headers(base: Mapping[str, str], extra: Mapping[str, str] | None) -> httpx.Headers:
    """`base` overridden by `extra`, names compared case-insensitively."""
    merged = httpx.Headers(base)
    merged.update(extra or {})
    return merged


def _redirect_target(response: httpx.Response, current: httpx.URL) -> httpx.URL | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    if not location:
        raise FetchError(f"{redact_url(current)} answered HTTP {response.status_code} without a Location "
                         "header. Send the final URL of the file.", "http_status", status_code=response.status_code)
    try:
        return current.join(location)
    except httpx.InvalidURL:
        raise FetchError(f"{redact_url(current)} redirected to an invalid URL. Send the final URL of the file.",
                         "refused") from None


def _require_success(response: httpx.Response, url: httpx.URL) -> None:
    if 200 <= response.status_code < 300:
        return
    raise FetchError(f"GET {redact_url(url)} answered HTTP {response.status_code}. Check the URL is right, "
                     "publicly readable and not expired.", "http_status", status_code=response.status_code)


def _read_capped(response: httpx.Response, max_bytes: int, url: httpx.URL, deadline: _Deadline) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{redact_url(url)} declares {int(declared)} bytes (Content-Length), above the "
                         f"{max_bytes}-byte limit. Send a smaller file or split it.", "too_large")
    body = _read_prefix(response, max_bytes + 1, url, deadline)
    if len(body) > max_bytes:
        raise FetchError(f"{redact_url(url)} is larger than the {max_bytes}-byte limit (stopped reading). "
                         "Send a smaller file or split it.", "too_large")
    return body


def _read_prefix(response: httpx.Response, limit: int, url: httpx.URL, deadline: _Deadline) -> bytes:
    """At most `limit` bytes of the (decoded) body; stops reading the stream once it has them."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= limit:
            break
        deadline.enforce(url)
    return bytes(body[:limit])


def _detached_copy(response: httpx.Response, content: bytes) -> httpx.Response:
    """A closed-stream copy of `response` carrying `content` (already decoded, maybe truncated)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _UNSAFE_COPY_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=content, request=response.request,
                          extensions={"http_version": response.http_version.encode()})
