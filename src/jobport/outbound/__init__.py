"""Outbound HTTP for user-supplied URLs (input file URLs, webhook callbacks) behind an SSRF guard."""

from jobport.outbound.fetch import (
    FETCH_ERROR_KINDS,
    FetchError,
    FetchResult,
    GuardedTransport,
    fetch_limited,
    guarded_client,
    post_json_guarded,
)
from jobport.outbound.guard import UrlGuard, UrlRefused, UrlUnreachable, describe_address, redact_url, system_resolver
from jobport.outbound.offpool import FetchBusy, FetchPool

__all__ = [
    "FETCH_ERROR_KINDS",
    "FetchBusy",
    "FetchError",
    "FetchPool",
    "FetchResult",
    "GuardedTransport",
    "UrlGuard",
    "UrlRefused",
    "UrlUnreachable",
    "describe_address",
    "fetch_limited",
    "guarded_client",
    "post_json_guarded",
    "redact_url",
    "system_resolver",
]
