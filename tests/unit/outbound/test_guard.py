"""UrlGuard: every refusal class, public addresses, allow_private and allowed_networks, with an
injected resolver (no DNS) except where the system resolver's numeric forms are the point."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from jobport.outbound.guard import UrlGuard, UrlRefused, UrlUnreachable, describe_address, redact_url


def table_resolver(table: dict[str, list[str]]):
    """A resolver answering from `table`; unknown names fail like getaddrinfo does."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    resolve.calls = calls
    return resolve


def never_resolver(host: str, port: int) -> list[str]:
    raise AssertionError(f"the resolver must not be asked about {host}")


def guard_for(*addresses: str, **options) -> UrlGuard:
    return UrlGuard(resolver=table_resolver({"evil.example": list(addresses)}), **options)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("192.0.2.10", "not globally routable"),
        ("198.18.0.1", "not globally routable"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("::ffff:127.0.0.1", "loopback (wrapped IPv4 127.0.0.1)"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a00:1", "private (RFC 1918 / fc00::/7) (wrapped IPv4 10.0.0.1)"),
        ("2002:7f00:1::", "loopback (wrapped IPv4 127.0.0.1)"),
    ],
)
def test_non_public_resolution_is_refused(address, reason):
    with pytest.raises(UrlRefused) as caught:
        guard_for(address).check("https://evil.example/input.json?sig=secret")
    error = caught.value
    assert type(error) is UrlRefused and error.kind == "refused"
    message = str(error)
    assert reason in message
    assert f"resolves to {ipaddress.ip_address(address)}" in message
    assert "https://evil.example/input.json" in message and "secret" not in message
    assert "publicly reachable" in message  # the fix


def test_one_bad_address_among_public_ones_refuses_the_host():
    with pytest.raises(UrlRefused, match="10.0.0.1"):
        guard_for("93.184.216.34", "10.0.0.1").check("http://evil.example/")


@pytest.mark.parametrize(
    "addresses",
    [["93.184.216.34"], ["2606:4700::1111"], ["93.184.216.34", "2606:4700::1111"], ["64:ff9b::808:808"]],
)
def test_public_addresses_are_returned(addresses):
    resolved = guard_for(*addresses).check("https://evil.example/file.csv")
    assert resolved == [ipaddress.ip_address(a) for a in addresses]


def test_duplicate_resolutions_are_collapsed_and_the_port_is_passed():
    resolver = table_resolver({"files.example": ["93.184.216.34", "93.184.216.34"]})
    guard = UrlGuard(resolver=resolver)
    assert guard.check("https://files.example/a") == [ipaddress.ip_address("93.184.216.34")]
    assert guard.check("http://files.example:8080/a") == [ipaddress.ip_address("93.184.216.34")]
    assert resolver.calls == [("files.example", 443), ("files.example", 8080)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://10.1.2.3/x", "10.1.2.3 is not public: private"),
        ("http://[::1]:8080/x", "::1 is not public: loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback (wrapped IPv4 127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ],
)
def test_ip_literals_are_vetted_without_resolving(url, expected):
    with pytest.raises(UrlRefused, match=expected.replace("(", r"\(").replace(")", r"\)")):
        UrlGuard(resolver=never_resolver).check(url)


def test_public_ip_literal_is_allowed_without_resolving():
    assert UrlGuard(resolver=never_resolver).check("https://8.8.8.8/x") == [ipaddress.ip_address("8.8.8.8")]


@pytest.mark.parametrize("url", ["ftp://files.example/a", "file:///etc/passwd", "gopher://files.example/",
                                 "javascript:alert(1)", "/relative/path"])
def test_other_schemes_are_refused(url):
    with pytest.raises(UrlRefused, match="is not allowed. Send an absolute http or https URL"):
        UrlGuard(resolver=never_resolver).check(url)


def test_allowed_schemes_can_be_narrowed():
    with pytest.raises(UrlRefused, match="scheme 'http' is not allowed. Send an absolute https URL"):
        UrlGuard(resolver=never_resolver, allowed_schemes=("https",)).check("http://files.example/")


@pytest.mark.parametrize("url", ["http:///only/a/path", "https://"])
def test_urls_without_a_host_are_refused(url):
    with pytest.raises(UrlRefused, match="has no host"):
        UrlGuard(resolver=never_resolver).check(url)


@pytest.mark.parametrize("url", ["https://alice:hunter2@files.example/a", "https://hunter2@files.example/a"])
def test_credentials_in_the_url_are_refused_and_not_echoed(url):
    with pytest.raises(UrlRefused, match="carries credentials") as caught:
        UrlGuard(resolver=never_resolver).check(url)
    assert "hunter2" not in str(caught.value) and "alice" not in str(caught.value)


def test_invalid_url_is_refused():
    with pytest.raises(UrlRefused, match="not a valid URL"):
        UrlGuard(resolver=never_resolver).check("http://[::1/")


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost", "a.b.localhost"])
def test_localhost_names_are_refused_without_resolving(host):
    with pytest.raises(UrlRefused, match="names this machine"):
        UrlGuard(resolver=never_resolver).check(f"http://{host}:8000/")


@pytest.mark.parametrize("host", ["metadata.google.internal", "Metadata.Google.Internal.", "metadata",
                                  "instance-data"])
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_names_are_refused_always(host, allow_private):
    with pytest.raises(UrlRefused, match="cloud metadata endpoint"):
        UrlGuard(resolver=never_resolver, allow_private=allow_private).check(f"http://{host}/computeMetadata/v1/")


def test_unresolvable_host_is_unreachable_not_refused():
    with pytest.raises(UrlUnreachable) as caught:
        UrlGuard(resolver=table_resolver({})).check("https://nowhere.example/a?sig=s3cret")
    error = caught.value
    assert isinstance(error, UrlRefused) and error.kind == "unreachable"
    assert "does not resolve" in str(error) and "nowhere.example" in str(error) and "s3cret" not in str(error)


def test_host_resolving_to_nothing_is_unreachable():
    with pytest.raises(UrlUnreachable, match="resolves to no address"):
        guard_for().check("https://evil.example/")


def test_resolver_returning_garbage_is_unreachable():
    with pytest.raises(UrlUnreachable, match="not an IP address"):
        guard_for("not-an-ip").check("https://evil.example/")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.1", "192.168.0.7", "fe80::1%eth0", "100.64.1.1"])
def test_allow_private_lets_internal_addresses_through(address):
    guard = guard_for(address, allow_private=True)
    assert guard.check("http://evil.example:9000/") == [ipaddress.ip_address(address.split("%")[0])]


def test_allow_private_lets_localhost_names_resolve():
    resolver = table_resolver({"localhost": ["127.0.0.1", "::1"]})
    guard = UrlGuard(allow_private=True, resolver=resolver)
    assert guard.check("http://localhost:8000/") == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert resolver.calls == [("localhost", 8000)]


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254"])
def test_allow_private_still_refuses_metadata_addresses(address):
    with pytest.raises(UrlRefused, match="cloud metadata"):
        guard_for(address, allow_private=True).check("http://evil.example/")


def test_allowed_networks_open_only_those_ranges():
    guard = UrlGuard(resolver=table_resolver({"hooks.internal": ["10.1.2.3"], "db.internal": ["10.2.0.1"],
                                              "meta.internal": ["169.254.169.254"]}),
                     allowed_networks=["10.1.0.0/16", "169.254.0.0/16"])
    assert guard.check("http://hooks.internal/cb") == [ipaddress.ip_address("10.1.2.3")]
    with pytest.raises(UrlRefused, match="10.2.0.1"):
        guard.check("http://db.internal/")
    with pytest.raises(UrlRefused, match="cloud metadata"):
        guard.check("http://meta.internal/")


@pytest.mark.parametrize("url", ["http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/", "http://017700000001/"])
def test_system_resolver_numeric_host_forms_are_caught(url):
    """getaddrinfo turns these numeric spellings into 127.0.0.1 without any DNS traffic."""
    with pytest.raises(UrlRefused, match="resolves to 127.0.0.1, which is not public: loopback"):
        UrlGuard().check(url)


def test_check_host_vets_a_bare_host():
    guard = guard_for("10.0.0.1")
    with pytest.raises(UrlRefused, match="evil.example:443"):
        guard.check_host("evil.example", 443)
    assert UrlGuard(resolver=never_resolver).check_host("8.8.4.4", 80) == [ipaddress.ip_address("8.8.4.4")]


def test_describe_address():
    assert describe_address(ipaddress.ip_address("1.1.1.1")) is None
    assert describe_address(ipaddress.ip_address("127.0.0.2")) == "loopback"
    assert describe_address(ipaddress.ip_address("::ffff:1.1.1.1")) is None


def test_redact_url_keeps_scheme_host_port_path_only():
    assert redact_url("https://u:p@Files.example:8443/a/b.csv?X-Amz-Signature=abc#frag") == \
        "https://files.example:8443/a/b.csv"


@pytest.mark.parametrize("allow_private", [False, True])
def test_the_ecs_credentials_endpoint_is_refused_always(allow_private):
    with pytest.raises(UrlRefused, match="169.254.170.2"):
        UrlGuard(resolver=never_resolver, allow_private=allow_private).check("http://169.254.170.2/v2/credentials/x")


def test_refusals_name_the_setting_that_opens_private_hosts():
    guard = UrlGuard(resolver=never_resolver, setting="JOBPORT_FETCH_ALLOW_PRIVATE_NETWORKS")
    with pytest.raises(UrlRefused) as refused:
        guard.check("http://10.1.2.3/inputs.json")
    message = str(refused.value)
    assert "JOBPORT_FETCH_ALLOW_PRIVATE_NETWORKS=true" in message
    assert "allow_private" not in message and "allowed_networks" not in message and ".." not in message
