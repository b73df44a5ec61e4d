"""SSRF guard: decide whether a URL given by a client may be fetched or called back by the server.

`UrlGuard.check(url)` parses the URL the way httpx will (`httpx.URL`), refuses schemes other than
http(s), URLs without a host or with credentials, then resolves the host and refuses it when *any*
resolved address is not publicly routable:

- loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10), carrier-grade NAT
  (100.64/10), multicast, reserved, unspecified (0.0.0.0, ::) and every other special-purpose range
  that is not globally routable (documentation, benchmarking, ...);
- the same addresses wrapped in IPv6: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4
  (2002::/16);
- cloud metadata and credential endpoints (169.254.169.254, the ECS task credentials endpoint
  169.254.170.2, fd00:ec2::254, 100.100.100.200).

Names that always mean this machine (`localhost`, `*.localhost`) are refused without resolving them.

Policy choices:

- `allow_private=True` (development, trusted internal hosts) lets every address and the localhost
  names through **except cloud metadata**: metadata addresses and names (`metadata.google.internal`,
  ...) are refused always, because no job input or webhook has a reason to reach them and they hand
  out cloud credentials.
- `allowed_networks` opens specific CIDR ranges (e.g. one internal webhook receiver) without opening
  all private space; metadata stays refused there too.

`UrlRefused` is raised for policy refusals; its subclass `UrlUnreachable` (attribute
`kind == "unreachable"`) when the host cannot be resolved, so callers can word "refused" and
"unreachable" differently.

Resolution here happens before connecting; `jobport.outbound.fetch` closes the DNS-rebinding gap by
connecting through `check_host` again at connect time and dialling only the addresses it vetted.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTNAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PUBLIC = "Use a URL on a publicly reachable host"


class UrlRefused(ValueError):
    """The URL may not be fetched; the message names the reason and the fix."""

    kind = "refused"


class UrlUnreachable(UrlRefused):
    """The URL's host cannot be resolved (not a policy decision)."""

    kind = "unreachable"


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the system resolver (`socket.getaddrinfo`), addresses in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def redact_url(url: str | httpx.URL) -> str:
    """`scheme://host[:port]/path` of a URL: no credentials, query or fragment (safe for messages)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


def describe_address(address: IPAddress) -> str | None:
    """Why `address` is not publicly routable ("loopback", ...), or None for a public address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = describe_address(embedded)
        return f"{reason} (wrapped IPv4 {embedded})" if reason else None
    return _describe_plain(address)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _describe_plain(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address in _CGNAT, "carrier-grade NAT (100.64.0.0/10)"),
        (any(address in net for net in _PRIVATE), "private (RFC 1918 / fc00::/7)"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "special-purpose (not globally routable)"),
    )
    return next((reason for matched, reason in checks if matched), None)


class UrlGuard:
    """Decides which URLs the server may contact; see the module docstring for the policy."""

    def __init__(
        self,
        allow_private: bool = False,
        allowed_schemes: Iterable[str] = ("http", "https"),
        resolver: Resolver | None = None,
        allowed_networks: Iterable[str | IPNetwork] = (),
        setting: str = "",
    ) -> None:
        """`setting` names the environment variable that sets `allow_private` for this guard's
        callers; refusal messages tell the operator to use it."""
        self.allow_private = allow_private
        self._fix = (f"{_PUBLIC}; an operator can allow trusted internal hosts with {setting}=true."
                     if setting else f"{_PUBLIC}.")
        self.allowed_schemes = tuple(s.lower() for s in allowed_schemes)
        self._resolve = resolver or system_resolver
        self._allowed_networks = tuple(ipaddress.ip_network(n) for n in allowed_networks)

    def check(self, url: str | httpx.URL) -> list[IPAddress]:
        """The addresses `url`'s host resolves to, all vetted; raises `UrlRefused`/`UrlUnreachable`."""
        shown = redact_url(url)
        parsed = self._parse(url, shown)
        port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0)
        return self._vet(parsed.raw_host.decode("ascii"), port, shown)

    def check_host(self, host: str, port: int) -> list[IPAddress]:
        """Vet a bare host (as a connection is about to be opened to it); raises like `check`."""
        return self._vet(host, port, f"{host}:{port}")

    def _parse(self, url: str | httpx.URL, shown: str) -> httpx.URL:
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise UrlRefused(f"refused {shown}: not a valid URL ({exc}). Send an absolute http(s) URL.") from None
        if parsed.scheme not in self.allowed_schemes:
            allowed = " or ".join(self.allowed_schemes)
            raise UrlRefused(f"refused {shown}: scheme {parsed.scheme or '(none)'!r} is not allowed. "
                             f"Send an absolute {allowed} URL.")
        if not parsed.raw_host:
            raise UrlRefused(f"refused {shown}: the URL has no host. Send an absolute URL such as "
                             "https://files.example.com/input.json.")
        if parsed.userinfo:
            raise UrlRefused(f"refused {shown}: the URL carries credentials (user:password@). "
                             "Remove them; use a signed URL or a token in the path or query instead.")
        return parsed

    def _vet(self, host: str, port: int, shown: str) -> list[IPAddress]:
        host = host.strip("[]").rstrip(".").lower()
        self._check_name(host, shown)
        addresses = self._addresses(host, port, shown)
        for address in addresses:
            self._check_address(address, host, shown)
        return addresses

    def _check_name(self, host: str, shown: str) -> None:
        if host in METADATA_HOSTNAMES:
            raise UrlRefused(f"refused {shown}: {host} is a cloud metadata endpoint, never fetched. {_PUBLIC}.")
        if not self.allow_private and (host == "localhost" or host.endswith(".localhost")):
            raise UrlRefused(f"refused {shown}: {host} names this machine (loopback). {self._fix}")

    def _addresses(self, host: str, port: int, shown: str) -> list[IPAddress]:
        literal = _parse_ip(host)
        if literal is not None:
            return [literal]
        try:
            resolved = self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise UrlUnreachable(f"cannot reach {shown}: host {host} does not resolve ({exc}). "
                                 "Check the host name is spelled right and publicly resolvable.") from None
        addresses = list(dict.fromkeys(_require_ip(a, shown) for a in resolved))
        if not addresses:
            raise UrlUnreachable(f"cannot reach {shown}: host {host} resolves to no address. "
                                 "Check the host name is spelled right and publicly resolvable.")
        return addresses

    def _check_address(self, address: IPAddress, host: str, shown: str) -> None:
        reason = describe_address(address)
        if reason is None:
            return
        if self._is_opened(address):
            return
        subject = str(address) if _parse_ip(host) is not None else f"{host} resolves to {address}, which"
        raise UrlRefused(f"refused {shown}: {subject} is not public: {reason}. {self._fix}")

    def _is_opened(self, address: IPAddress) -> bool:
        unwrapped = _embedded_ipv4(address) or address
        if unwrapped in METADATA_ADDRESSES:
            return False
        return self.allow_private or any(unwrapped in net or address in net for net in self._allowed_networks)


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _require_ip(text: str, shown: str) -> IPAddress:
    address = _parse_ip(text.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
    if address is None:
        raise UrlUnreachable(f"cannot reach {shown}: the resolver returned {text!r}, not an IP address.")
    return address
