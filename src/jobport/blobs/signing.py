"""Signed, expiring download links for blobs: `/blobs/<key>?filename=&expires=&signature=`.

The signature is an HMAC-SHA256 over key, filename and expiry with the server secret, so a link
works without an auth header until it expires and cannot be altered to reach another blob.

With a `presigner` (the blob store) that signs links itself (S3), `sign` returns its link instead
(a presigned GET of the object, downloaded as the filename, straight from the store); the
`/blobs/...` links keep working for every store.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Protocol
from urllib.parse import quote, urlencode


class Presigner(Protocol):
    def presigned_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        """A link that downloads `key` as `filename` for `ttl_seconds`, or None to use `/blobs/...`."""
        ...


class UrlSigner:
    def __init__(self, secret: bytes, ttl_seconds: int, presigner: Presigner | None = None) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._presigner = presigner

    def _mac(self, key: str, filename: str, expires: int) -> str:
        message = f"{key}\n{filename}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, key: str, filename: str, now: float | None = None,
             ttl: int | None = None, in_store: bool = True) -> tuple[str, int]:
        """The URL and its expiry (unix seconds); `ttl` shortens the default lifetime. A pinned `now`
        (tests) gives the server's own link: a store presigns at the real time only. `in_store=False`
        (an output kept in its database row) always gives the server's own link."""
        lifetime = ttl or self.ttl_seconds
        if self._presigner is not None and now is None and in_store:
            signed_at = time.time()  # the store stamps its link at this second or just after
            url = self._presigner.presigned_url(key, filename, lifetime)
            if url is not None:
                return url, int(signed_at + lifetime)
        expires = int((now if now is not None else time.time()) + lifetime)
        query = urlencode({"filename": filename, "expires": expires, "signature": self._mac(key, filename, expires)})
        return f"{base_url.rstrip('/')}/blobs/{quote(key)}?{query}", expires

    def signature(self, key: str, filename: str, expires: int) -> str:
        """The HMAC `verify` checks, for signed links other than `/blobs/...` downloads (upload part
        PUTs sign a `key` that is no blob key, so their signature opens no download)."""
        return self._mac(key, filename, expires)

    def verify(self, key: str, filename: str, expires: int, signature: str, now: float | None = None) -> bool:
        if expires < (now if now is not None else time.time()):
            return False
        # as bytes: compare_digest refuses str with non-ASCII characters (a tampered link is no 500)
        return hmac.compare_digest(self._mac(key, filename, expires).encode(), signature.encode("utf-8", "replace"))
