"""`validate_callback_url`: what surfaces call at job creation; the deliverer's SSRF policy as a 400."""

import pytest

from helpers import make_settings
from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.config import Settings
from jobport.domain.errors import Invalid
from jobport.outbound import UrlGuard


def test_public_urls_pass():
    validate_callback_url("https://93.184.216.34/hooks/jobport?token=x", UrlGuard())


@pytest.mark.parametrize("url,reason", [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://localhost/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data", "metadata"),
    ("ftp://93.184.216.34/hook", "scheme"),
    ("http://user:pw@93.184.216.34/hook", "credentials"),
])
def test_refused_urls_are_a_400_naming_the_field(url, reason):
    with pytest.raises(Invalid) as exc:
        validate_callback_url(url, UrlGuard())
    assert exc.value.status_code == 400 and exc.value.field == "callback_url"
    assert reason in exc.value.message


def test_private_networks_can_be_allowed_but_never_metadata():
    guard = guard_for(make_settings(callback_allow_private_networks=True))
    validate_callback_url("http://127.0.0.1:8080/hook", guard)
    with pytest.raises(Invalid):
        validate_callback_url("http://169.254.169.254/", guard)
    assert not guard_for(Settings()).allow_private


def test_overlong_url_and_custom_field_name():
    with pytest.raises(Invalid) as exc:
        validate_callback_url("https://93.184.216.34/" + "a" * 3000, UrlGuard(), field="callbackUrl")
    assert exc.value.field == "callbackUrl"
