"""fetch_limited and post_json_guarded against a real HTTP(S) server on 127.0.0.1 (a free port,
one per test, shut down after it). Host names other than IP literals go through injected resolvers."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from jobport.outbound import FetchError, UrlGuard, fetch_limited, guarded_client, post_json_guarded

CHUNK = 64 * 1024
STREAM_CHUNKS = 1024  # 64 MiB offered by the streaming routes
WEBHOOK_CAP = 64 * 1024


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up mid-response is what several tests do on purpose."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 with the routes below; records every request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict] = []
        self.stop = threading.Event()
        self.stream_done = threading.Event()
        self.streamed_bytes = 0
        self.server_names: list[str | None] = []
        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.app = self
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    @property
    def app(self) -> LocalServer:
        return self.server.app

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.app.requests.append({"method": self.command, "path": split.path, "headers": headers,
                                  "header_names": [k.lower() for k in self.headers.keys()],
                                  "body": body})
        route, _, arg = split.path.strip("/").partition("/")
        handler = getattr(self, "route_" + route.replace("-", "_"), None)
        if handler is None:
            self._send(404, b"no such route")
        else:
            handler(arg, parse_qs(split.query))

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302) -> None:
        self._send(status, b"", Location=location)

    def route_ok(self, arg, query) -> None:
        self._send(200, b"hello jobport", content_type="text/csv; charset=utf-8")

    def route_exact(self, arg, query) -> None:
        self._send(200, b"x" * int(arg))

    def route_host(self, arg, query) -> None:
        self._send(200, self.headers["Host"].encode())

    def route_hops(self, arg, query) -> None:
        remaining = int(arg)
        if remaining == 0:
            self._send(200, b"landed")
        else:
            self._redirect(f"/hops/{remaining - 1}")  # relative Location

    def route_slow_hops(self, arg, query) -> None:
        self.app.stop.wait(0.4)
        self._redirect(f"/slow-hops/{int(arg) - 1}")

    def route_to(self, arg, query) -> None:
        self._redirect(query["url"][0], status=int(query.get("status", ["302"])[0]))

    def route_no_location(self, arg, query) -> None:
        self._send(302)

    def route_status(self, arg, query) -> None:
        self._send(int(arg), b"nope")

    def route_slow(self, arg, query) -> None:
        self.app.stop.wait(5)
        self._send(200, b"too late")

    def route_hook(self, arg, query) -> None:
        self._send(202, b"accepted", X_Receiver="test")

    def route_hook_big(self, arg, query) -> None:
        self._send(200, b"y" * (1024 * 1024))

    def route_chunked(self, arg, query) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._stream(lambda data: b"%x\r\n%s\r\n" % (len(data), data))

    def route_close_delimited(self, arg, query) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self._stream(lambda data: data)

    def route_declared(self, arg, query) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(CHUNK * STREAM_CHUNKS))
        self.end_headers()
        self._stream(lambda data: data)

    def _stream(self, frame) -> None:
        """Offer 64 MiB in 64 KiB pieces; stops when the client hangs up. Records bytes accepted."""
        data = b"z" * CHUNK
        try:
            for _ in range(STREAM_CHUNKS):
                self.wfile.write(frame(data))
                self.app.streamed_bytes += CHUNK
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.app.stream_done.set()


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return resolve


NAMES = {"refused.test": ["10.0.0.1"], "app.test": ["127.0.0.1"], "meta.test": ["169.254.169.254"]}
DEV = UrlGuard(allow_private=True, resolver=resolver(NAMES))
# Loopback opened explicitly (the test server), the rest of private space still refused.
LOOPBACK_ONLY = UrlGuard(allowed_networks=["127.0.0.0/8"], resolver=resolver(NAMES))
STRICT = UrlGuard(resolver=resolver(NAMES))


def fetch_error(url: str, **options) -> FetchError:
    options.setdefault("guard", DEV)
    options.setdefault("max_bytes", 1_000_000)
    with pytest.raises(FetchError) as caught:
        fetch_limited(url, **options)
    return caught.value


# --- fetch_limited ------------------------------------------------------------------------------

def test_body_under_the_cap_is_returned(server):
    result = fetch_limited(server.url("/ok"), max_bytes=1000, guard=DEV, headers={"X-Trace": "t1"})
    assert result.content == b"hello jobport"
    assert result.content_type == "text/csv; charset=utf-8"
    assert result.final_url == server.url("/ok")
    sent = server.requests[0]["headers"]
    assert sent["x-trace"] == "t1" and sent["accept-encoding"] == "identity"


def test_caller_headers_override_defaults_case_insensitively(server):
    fetch_limited(server.url("/ok"), max_bytes=1000, guard=DEV, headers={"User-Agent": "custom/1"})
    [request] = server.requests
    assert request["headers"]["user-agent"] == "custom/1" and request["header_names"].count("user-agent") == 1


def test_body_exactly_at_the_cap_is_returned(server):
    assert fetch_limited(server.url("/exact/1000"), max_bytes=1000, guard=DEV).content == b"x" * 1000


def test_content_length_over_the_cap_is_refused_before_reading(server):
    error = fetch_error(server.url("/exact/1001"), max_bytes=1000)
    assert error.kind == "too_large"
    assert "declares 1001 bytes (Content-Length), above the 1000-byte limit" in error.message


@pytest.mark.parametrize("route", ["/chunked", "/close-delimited", "/declared"])
def test_oversized_stream_stops_reading_early(server, route):
    max_bytes = 100_000
    error = fetch_error(server.url(route), max_bytes=max_bytes)
    assert error.kind == "too_large" and f"{max_bytes}-byte limit" in error.message
    assert server.stream_done.wait(10), "the server kept streaming after the client gave up"
    offered = CHUNK * STREAM_CHUNKS
    assert server.streamed_bytes < offered // 2, (server.streamed_bytes, offered)


def test_relative_redirect_chain_is_followed_and_rechecked(server):
    result = fetch_limited(server.url("/hops/3"), max_bytes=1000, guard=DEV)
    assert result.content == b"landed"
    assert result.final_url == server.url("/hops/0")
    assert server.paths() == ["/hops/3", "/hops/2", "/hops/1", "/hops/0"]


def test_redirect_to_a_refused_address_fails_refused(server):
    start = server.url("/to?url=http://refused.test/internal")
    assert fetch_limited(server.url("/ok"), max_bytes=100, guard=LOOPBACK_ONLY).content == b"hello jobport"
    error = fetch_error(start, guard=LOOPBACK_ONLY)
    assert error.kind == "refused"
    assert "refused.test resolves to 10.0.0.1" in error.message and "private" in error.message


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://meta.test/",
                                    "http://metadata.google.internal/computeMetadata/v1/"])
def test_redirect_to_cloud_metadata_is_refused_even_with_allow_private(server, target):
    error = fetch_error(server.url(f"/to?url={target}&status=307"))
    assert error.kind == "refused" and "cloud metadata" in error.message


def test_redirect_to_another_scheme_is_refused(server):
    error = fetch_error(server.url("/to?url=file:///etc/passwd"))
    assert error.kind == "refused" and "scheme 'file' is not allowed" in error.message


def test_too_many_redirects(server):
    error = fetch_error(server.url("/hops/10?sig=secret"), max_redirects=3)
    assert error.kind == "too_many_redirects"
    assert "redirected more than 3 times" in error.message and "secret" not in error.message
    assert len(server.requests) == 4


def test_max_redirects_zero_refuses_any_redirect(server):
    assert fetch_error(server.url("/hops/1"), max_redirects=0).kind == "too_many_redirects"
    assert fetch_limited(server.url("/hops/0"), max_bytes=100, guard=DEV, max_redirects=0).content == b"landed"


def test_redirect_without_location_is_an_http_status_error(server):
    error = fetch_error(server.url("/no-location"))
    assert error.kind == "http_status" and error.status_code == 302 and "without a Location" in error.message


def test_404_is_an_http_status_error_without_the_query(server):
    error = fetch_error(server.url("/status/404?X-Amz-Signature=s3cret"))
    assert error.kind == "http_status" and error.status_code == 404
    assert f"GET {server.url('/status/404')} answered HTTP 404" in error.message
    assert "s3cret" not in error.message


def test_slow_server_times_out(server):
    error = fetch_error(server.url("/slow"), timeout=0.5)
    assert error.kind == "timeout" and "did not answer within 0.5 s" in error.message
    assert [r["path"] for r in server.requests] == ["/slow"]  # asked once, gave up: no retry


def test_deadline_spans_all_redirect_hops(server):
    error = fetch_error(server.url("/slow-hops/5"), timeout=1.0)
    assert error.kind == "timeout"
    assert len(server.requests) <= 3  # 0.4 s per hop: the third hop runs out of time


def test_loopback_is_refused_without_allow_private(server):
    error = fetch_error(server.url("/ok"), guard=STRICT)
    assert error.kind == "refused" and "loopback" in error.message
    assert server.requests == []


def test_connection_refused_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fetch_error(f"http://127.0.0.1:{port}/x")
    assert error.kind == "unreachable" and f"cannot reach http://127.0.0.1:{port}/x" in error.message


def test_unresolvable_host_is_unreachable():
    error = fetch_error("https://nowhere.test/input.json")
    assert error.kind == "unreachable" and "does not resolve" in error.message


def test_invalid_url_is_refused():
    assert fetch_error("http://[::1/").kind == "refused"


def test_connection_goes_to_the_vetted_address_with_the_host_name_kept(server):
    """app.test exists only in the guard's resolver: the connection can only use the vetted IP."""
    result = fetch_limited(server.url("/host", host="app.test"), max_bytes=100, guard=DEV)
    assert result.content == f"app.test:{server.port}".encode()


def test_dns_rebinding_between_check_and_connect_is_refused(server):
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    rebinding = UrlGuard(resolver=lambda host, port: next(answers))
    error = fetch_error(server.url("/ok", host="rebind.test"), guard=rebinding)
    assert error.kind == "refused" and "rebind.test resolves to 127.0.0.1" in error.message
    assert server.requests == []


def test_a_caller_client_is_used_and_left_open(server):
    with guarded_client(DEV) as client:
        for _ in range(2):
            assert fetch_limited(server.url("/ok"), max_bytes=100, guard=DEV, client=client).content == b"hello jobport"
        assert not client.is_closed


# --- TLS: SNI and certificate checks use the host name, the socket the vetted IP ---------------

@pytest.fixture(scope="module")
def app_test_cert(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=app.test",
                    "-addext", "subjectAltName=DNS:app.test"], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_server(app_test_cert):
    cert, key = app_test_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with LocalServer(tls=context) as running:
        yield running


def test_tls_uses_the_host_name_for_sni_and_verification(tls_server, app_test_cert):
    trust = ssl.create_default_context(cafile=str(app_test_cert[0]))
    guard = UrlGuard(allow_private=True, resolver=resolver({**NAMES, "other.test": ["127.0.0.1"]}))
    with guarded_client(guard, verify=trust) as client:
        result = fetch_limited(tls_server.url("/host", host="app.test", scheme="https"), max_bytes=100,
                               guard=guard, client=client)
        assert result.content == f"app.test:{tls_server.port}".encode()
        assert tls_server.server_names == ["app.test"]
        # Same IP, other name: the certificate (for app.test) must not match.
        error = fetch_error(tls_server.url("/host", host="other.test", scheme="https"), guard=guard, client=client)
        assert error.kind == "unreachable" and "CERTIFICATE_VERIFY_FAILED" in error.message


# --- post_json_guarded --------------------------------------------------------------------------

def test_webhook_is_posted_as_json(server):
    response = post_json_guarded(server.url("/hook"), body=b'{"jobId": 7}', headers={"X-Signature": "abc"},
                                 guard=DEV, timeout=5)
    assert response.status_code == 202 and response.text == "accepted"
    assert response.headers["x-receiver"] == "test"
    [request] = server.requests
    assert request["method"] == "POST" and request["body"] == b'{"jobId": 7}'
    assert request["headers"]["content-type"] == "application/json" and request["headers"]["x-signature"] == "abc"


def test_webhook_content_type_can_be_overridden(server):
    post_json_guarded(server.url("/hook"), body=b"{}", headers={"Content-Type": "application/json; charset=utf-8"},
                      guard=DEV, timeout=5)
    [request] = server.requests
    assert request["headers"]["content-type"] == "application/json; charset=utf-8"
    assert request["header_names"].count("content-type") == 1


def test_webhook_redirect_is_returned_not_followed(server):
    response = post_json_guarded(server.url("/to?url=/hook&status=307"), body=b"{}", headers={}, guard=DEV, timeout=5)
    assert response.status_code == 307 and response.headers["location"] == "/hook"
    assert server.paths() == ["/to"]


def test_webhook_response_body_is_capped(server):
    response = post_json_guarded(server.url("/hook-big"), body=b"{}", headers={}, guard=DEV, timeout=5)
    assert response.status_code == 200 and response.content == b"y" * WEBHOOK_CAP


def test_webhook_to_loopback_is_refused_without_allow_private(server):
    with pytest.raises(FetchError) as caught:
        post_json_guarded(server.url("/hook"), body=b"{}", headers={}, guard=STRICT, timeout=5)
    assert caught.value.kind == "refused" and server.requests == []


def test_webhook_timeout(server):
    with pytest.raises(FetchError) as caught:
        post_json_guarded(server.url("/slow"), body=b"{}", headers={}, guard=DEV, timeout=0.5)
    assert caught.value.kind == "timeout"


def test_webhook_http_error_status_is_returned(server):
    response = post_json_guarded(server.url("/status/500"), body=b"{}", headers={}, guard=DEV, timeout=5)
    assert response.status_code == 500 and response.text == "nope"
