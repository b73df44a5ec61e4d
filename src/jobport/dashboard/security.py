"""The dashboard's session and request protections.

- **Session cookie** (`jobport_session`): the signed-in key's id and the time of sign-in, signed with
  HMAC-SHA256 under the server secret; HttpOnly, SameSite=Strict, path `/ui`, Secure over HTTPS; it
  lasts setting `ui_session_max_seconds` (12 hours by default). It
  never holds the key itself; the key is looked up on every request, so revoking it signs out.
- **CSRF** (signed double submit): a random `jobport_csrf` cookie, and on every form a token that is
  the HMAC of that cookie under the server secret; every POST must carry the token of its cookie.
- **Headers** on every `/ui` response: `Content-Security-Policy: default-src 'self'` (no inline
  script or style, nothing from another host), no framing, no sniffing, same-origin referrers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "jobport_session"
CSRF_COOKIE = "jobport_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/ui"
CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
                           "object-src 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class Signer:
    """HMACs under the server secret, for the session cookie (valid `session_max_seconds`) and the
    CSRF tokens. Written with the standard library's `hmac` rather than itsdangerous: two
    HMAC-SHA256 values with an issue time are all it needs, and it adds no dependency."""

    def __init__(self, secret: bytes, session_max_seconds: int = 12 * 3600) -> None:
        self._secret = secret
        self.session_max_seconds = session_max_seconds

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._secret, f"{purpose}\n{value}".encode(), hashlib.sha256).hexdigest()

    def session_value(self, key_id: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        body = f"{key_id}.{issued}"
        return f"{body}.{self._mac('session', body)}"

    def session_key_id(self, value: str | None, now: float | None = None) -> str | None:
        """The key id of a session cookie that is genuine and not expired, else None."""
        if not value or value.count(".") < 2:
            return None
        body, _, mac = value.rpartition(".")
        key_id, _, issued = body.rpartition(".")
        if not issued.isdigit() or not hmac.compare_digest(self._mac("session", body).encode(),
                                                           mac.encode("utf-8", "replace")):
            return None
        age = (now if now is not None else time.time()) - int(issued)
        return key_id if 0 <= age <= self.session_max_seconds else None

    def csrf_token(self, cookie_value: str) -> str:
        return self._mac("csrf", cookie_value)

    def csrf_ok(self, cookie_value: str | None, token: str | None) -> bool:
        if not cookie_value or not token:
            return False
        return hmac.compare_digest(self.csrf_token(cookie_value).encode(), token.encode("utf-8", "replace"))


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed Cookie header: no cookies (sign in again), never a 500
                return {}
            return {k: m.value for k, m in jar.items()}
    return {}


class DashboardHeaders:
    """ASGI middleware of the dashboard app: the security headers on every response, `no-store`
    on pages, and a CSRF cookie for a browser that has none yet (its value is put on
    `request.state.csrf_cookie` for the page being rendered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        existing = _cookies(scope).get(CSRF_COOKIE)
        csrf_value = existing if existing and len(existing) >= 32 else secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_cookie"] = csrf_value
        path, root = scope.get("path", ""), scope.get("root_path", "")
        is_static = (path[len(root):] if root and path.startswith(root) else path).startswith("/static/")
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                if not is_static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if csrf_value != existing:
                    flags = "; Secure" if secure else ""
                    headers.append((b"set-cookie", f"{CSRF_COOKIE}={csrf_value}; Path={COOKIE_PATH}; HttpOnly; "
                                                   f"SameSite=Strict{flags}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
