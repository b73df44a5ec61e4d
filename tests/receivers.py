"""A real HTTP callback receiver on 127.0.0.1 for tests: records every complete POST, answers from a
script of status codes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from a script of status
    codes (the last one repeats)."""

    def __init__(self, statuses=(200,)) -> None:
        self.statuses = list(statuses)
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                expected = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(expected)
                if len(body) < expected:
                    # The sender died mid-request (a chaos test kills the server): the request is
                    # incomplete and nothing answers it, as with any real HTTP server.
                    self.close_connection = True
                    return
                with receiver.lock:
                    receiver.received.append({"path": self.path, "headers": dict(self.headers.items()),
                                              "body": body.decode()})
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def for_job(self, job_id: str) -> list[dict]:
        with self.lock:
            return [r for r in self.received if json.loads(r["body"])["data"]["id"] == job_id]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FileServer:
    """An HTTP server on 127.0.0.1 that answers GET `path` with `files[path]` (JSON), 404 otherwise;
    `files` may be changed while it runs."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
