"""Callback URL validation for the surfaces, at job creation: the same SSRF policy the deliverer
applies to every attempt, so a refused URL is a 400 at once instead of a failed delivery later."""

from __future__ import annotations

from jobport.config import Settings
from jobport.domain.errors import Invalid
from jobport.outbound import UrlGuard, UrlRefused

MAX_URL_LENGTH = 2048


def guard_for(settings: Settings) -> UrlGuard:
    """The guard callbacks use (`callback_allow_private_networks`)."""
    return UrlGuard(allow_private=settings.callbacks.allow_private_networks,
                    setting="JOBPORT_CALLBACK_ALLOW_PRIVATE_NETWORKS")


def validate_callback_url(url: str, guard: UrlGuard, *, field: str = "callback_url") -> None:
    """None if the deliverer may call `url`; raises `Invalid` (400, naming `field`) otherwise.
    A host that does not resolve is refused too (the message says it is unreachable)."""
    if len(url) > MAX_URL_LENGTH:
        raise Invalid(f"{field}: longer than {MAX_URL_LENGTH} characters", field=field, code="invalid_parameter",
                      suggestion="Use a shorter callback URL.")
    try:
        guard.check(url)
    except UrlRefused as exc:
        raise Invalid(f"{field}: {exc}", field=field, code="invalid_parameter",
                      suggestion="Use an http(s) URL on a publicly reachable host.") from None
