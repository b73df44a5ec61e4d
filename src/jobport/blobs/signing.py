"""Signed, expiring download links for blobs: `/blobs/<key>?filename=&expires=&signature=`.

The signature is an HMAC-SHA256 over key, filename and expiry with the server secret, so a link
works without an auth header until it expires and cannot be altered to reach another blob.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode


class UrlSigner:
    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def _mac(self, key: str, filename: str, expires: int) -> str:
        message = f"{key}\n{filename}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, key: str, filename: str, now: float | None = None,
             ttl: int | None = None) -> tuple[str, int]:
        """The URL and its expiry (unix seconds); `ttl` shortens the default lifetime."""
        expires = int((now if now is not None else time.time()) + (ttl or self.ttl_seconds))
        query = urlencode({"filename": filename, "expires": expires, "signature": self._mac(key, filename, expires)})
        return f"{base_url.rstrip('/')}/blobs/{quote(key)}?{query}", expires

    def verify(self, key: str, filename: str, expires: int, signature: str, now: float | None = None) -> bool:
        if expires < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._mac(key, filename, expires), signature)
