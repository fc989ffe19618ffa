"""Fetch an image from a URL that someone else chose, without becoming their proxy.

Why so careful: scan feeds and ``POST /v1/match {"url": ...}`` let outsiders make this service issue
HTTP requests. Without checks that is server-side request forgery: a URL (or a redirect, or a DNS
answer) pointing at ``169.254.169.254`` reads cloud credentials, one pointing at ``10.x`` probes the
private network. So, for every hop:

1. only ``http``/``https``;
2. the host is resolved **once** here and every resolved address is checked; the connection is then made
   to a checked address (``_PinnedBackend``), so a second, different DNS answer (DNS rebinding) is never
   used, while the request, its TLS certificate check and connection reuse all go by the host's name;
3. redirects are followed by hand, at most ``settings.fetch_max_redirects``, each target re-checked;
4. the body is streamed and cut at ``settings.fetch_max_bytes``; it must start like an image;
5. one deadline bounds every network read and write of a fetch, the response's head included, and
   each DNS lookup (``getaddrinfo`` has no timeout of its own: a dead resolver held a worker ~40 s).

Addresses named in ``settings.fetch_allow`` (host names, IPs or CIDRs) skip the address check; that is
how tests reach their loopback server. Cloud metadata addresses are only reachable if named exactly.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

from rights.config import Settings
from rights.errors import FetchRefused

__all__ = ["FetchFailed", "check_url", "fetch_client", "fetch_image", "looks_like_image"]

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Instance metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, Oracle). Most are already
# link-local or private, but they are listed so that a broad allow-list CIDR never opens them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
# Transient failures are retried this many times in all, backing off RETRY_BASE_S * 2**n; three tries
# ride out a restarting CDN node without letting one dead host hold a scan worker for long.
MAX_ATTEMPTS = 3
RETRY_BASE_S = 0.25
RETRY_AFTER_CAP_S = 5.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_SHOWN_URL_CHARS = 300


def _shown(url: str) -> str:
    """``url`` cut for a message: a 5 MB URL came back whole in the error body and the server's log."""
    if len(url) <= _SHOWN_URL_CHARS:
        return url
    return f"{url[:_SHOWN_URL_CHARS]}… ({len(url):,} characters)"


_NOT_IMAGE = "{url} does not look like an image (PNG, JPEG, GIF, WebP, BMP, TIFF or AVIF)"
_TOO_SLOW = "fetching {url} took longer than {seconds:g} s"

# Leading bytes of the formats the fingerprinter decodes.
_MAGIC: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF little-endian
    b"MM\x00*",  # TIFF big-endian
)


# A BMP's two letters open many text files ("BMW ..."): its DIB header's size, at byte 14, is one of these.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
# Bytes read before sniffing: the BMP check needs 18.
SNIFF_BYTES = 18

# AVIF is an ISO-BMFF file: a size, "ftyp", then the major brand (still image / image sequence).
_AVIF_BRANDS = (b"avif", b"avis")


class FetchFailed(FetchRefused):
    """The URL was acceptable but the fetch did not produce an image (404, timeout, not an image ...)."""

    code = "fetch_failed"


def looks_like_image(head: bytes) -> bool:
    """Content sniffing: trust the bytes, not the Content-Type header."""
    if head.startswith(_MAGIC):
        return True
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if len(head) >= 18 and head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return True
    return len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS


def fetch_image(
    url: str,
    *,
    settings: Settings,
    client: httpx.Client | None = None,
    resolver: Resolver | None = None,
) -> bytes:
    """Download the image at ``url``; raise :class:`FetchRefused` (policy) or :class:`FetchFailed`.
    ``client``, to reuse connections across fetches, must come from :func:`fetch_client`: any other
    would connect wherever DNS says at the time, not where the checks looked."""
    resolve = resolver or _system_resolver
    own_client = client is None
    if client is None:
        client = fetch_client(settings)
    elif client not in _PINNED_CLIENTS:
        raise ValueError("fetch_image needs a client made by fetch_client")
    # One deadline for the whole fetch: per-read timeouts alone let a server that trickles a byte
    # every few seconds hold a request thread (and with enough of them, the whole API) forever.
    deadline = time.monotonic() + settings.fetch_deadline_s
    try:
        current = url
        for _hop in range(settings.fetch_max_redirects + 1):
            target = check_url(current, settings=settings, resolver=resolve, deadline=deadline)
            outcome = _get_with_retries(client, target, settings, deadline)
            if isinstance(outcome, bytes):
                return outcome
            current = outcome  # a redirect Location, checked at the top of the loop
        raise FetchRefused(
            f"too many redirects (more than {settings.fetch_max_redirects}) starting at {url}", url=url
        )
    finally:
        if own_client:
            client.close()


class _Target:
    """A checked URL, with the checked addresses it may be fetched from (in the resolver's order)."""

    def __init__(self, url: httpx.URL, port: int, addresses: list[IPAddress]) -> None:
        self.url = url
        self.port = port
        self.addresses = addresses


def fetch_client(settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> httpx.Client:
    """A client for ``fetch_image``: it connects only to the addresses ``check_url`` checked for a
    host (``_PinnedBackend``), and pools connections by host name. (Sent to the checked IP as the
    URL, a connection verified for one name was reused for another name on that IP, its certificate
    never checked: an audit.) ``trust_env=False``: an environment proxy would connect on our behalf
    and undo the pinning. ``ssl_context`` replaces the system's certificate authorities (a private CA)."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx takes no network backend; its pool is rebuilt with ours, as httpx builds it otherwise.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False), network_backend=_PinnedBackend()
    )
    client = httpx.Client(
        transport=transport, timeout=settings.fetch_timeout_s, trust_env=False, follow_redirects=False
    )
    _PINNED_CLIENTS.add(client)
    return client


_PINNED_CLIENTS: weakref.WeakSet[httpx.Client] = weakref.WeakSet()


# The fetch this thread is making: its checked addresses and deadline, for ``_PinnedBackend``.
_current = threading.local()


class _PinnedBackend(httpcore.SyncBackend):
    """Connects a host name only to the addresses checked for it in this thread's fetch, trying
    each in turn (a host whose first address was dead, an IPv6 route that is down, always failed:
    an audit), and bounds every read and write by the fetch's deadline (``_DeadlineStream``)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addresses = getattr(_current, "addresses", {}).get((host.lower(), port))
        if not addresses:  # never an unchecked connection
            raise httpcore.ConnectError(f"{host}:{port} was not checked for this fetch")
        failure: Exception | None = None
        for address in addresses:
            logger.debug("connecting to %s port %d for %s", address, port, host)
            try:
                stream = super().connect_tcp(
                    str(address),
                    port,
                    _capped(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most until the current fetch's deadline: per-
    read timeouts alone let a server hold a fetch for ever by sending a byte at a time of its
    response's head, or endless ``100 Continue`` answers (an audit)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _capped(timeout: float | None, late: type[Exception]) -> float | None:
    """``timeout``, shortened to what is left of this thread's fetch; ``late`` raised once none is."""
    deadline: float | None = getattr(_current, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise late("the fetch's deadline has passed")
    return left if timeout is None else min(timeout, left)


def check_url(
    url: str, *, settings: Settings, resolver: Resolver | None = None, deadline: float | None = None
) -> _Target:
    """Validate scheme and host, resolve once, check every address; return where to connect.
    ``deadline`` (``time.monotonic()``) bounds the DNS lookup too."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchRefused(f"not a valid URL: {_shown(str(url))!r} ({exc})", url=_shown(str(url))) from exc
    if not parsed.scheme:  # " http://x/" with its space, "example.org/x.png"
        raise FetchRefused(f"not an absolute http or https URL: {_shown(url)!r}", url=url)
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"only http and https URLs can be fetched, not {parsed.scheme!r}", url=url)
    try:
        host = parsed.host
    except UnicodeError as exc:  # a malformed IDNA label ("xn--"): decoding it for display fails
        raise FetchRefused(f"not a valid host name in {url!r}", url=url) from exc
    if not host:
        raise FetchRefused(f"URL has no host: {url!r}", url=url)
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:  # 70000 wrapped round to 4464; a 20-digit one raised OverflowError (a 500)
        raise FetchRefused(f"not a valid URL: {_shown(url)!r} (port {port} is out of range)", url=_shown(url))
    allow = _Allow(settings.fetch_allow)
    literal = _ip_or_none(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = _resolve_by(resolver or _system_resolver, host, port, deadline, settings)
            addresses = [_parse_ip(a) for a in found]
        except UnicodeError as exc:  # an empty or over-long label: IDNA encoding refuses it
            raise FetchRefused(f"not a valid host name: {host!r}", url=url) from exc
        except OSError as exc:
            raise FetchFailed(f"cannot resolve host {host!r}: {exc}", url=url) from exc
        if not addresses:
            raise FetchFailed(f"host {host!r} has no addresses", url=url)
    host_allowed = allow.names_host(host)
    for address in addresses:
        if host_allowed or allow.covers(address):
            continue
        reason = _forbidden_reason(address)
        if reason:
            raise FetchRefused(
                f"refusing to fetch {url}: host {host} resolves to {address}, a {reason} address",
                url=url,
                address=str(address),
            )
    return _Target(parsed, port, addresses)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries and a gateway may deliver to (mapped, 6to4, Teredo,
    NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
    if embedded is None and address in _NAT64:
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return embedded


def _forbidden_reason(address: IPAddress) -> str | None:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return _forbidden_reason(embedded)  # judge the IPv4 address it reaches
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        # Catches the rest that is not publicly routable, e.g. 100.64.0.0/10 carrier-grade NAT.
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


class _Allow:
    """``settings.fetch_allow``: host names, IP addresses or CIDRs."""

    def __init__(self, entries: list[str]) -> None:
        self.hosts: set[str] = set()
        self.exact: set[IPAddress] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                if "/" in entry:
                    self.networks.append(ipaddress.ip_network(entry, strict=False))
                else:
                    self.exact.add(ipaddress.ip_address(entry))
            except ValueError:
                self.hosts.add(entry.rstrip("."))

    def names_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def covers(self, address: IPAddress) -> bool:
        if address in self.exact:
            return True
        if address in METADATA_ADDRESSES or _embedded_ipv4(address) in METADATA_ADDRESSES:
            # A broad CIDR never opens the metadata service, in any IPv6 form that reaches it
            # (``::/0`` let ``[::ffff:169.254.169.254]`` through); name it exactly if you must.
            return False
        return any(address in net for net in self.networks)


def _ip_or_none(host: str) -> IPAddress | None:
    try:
        return _parse_ip(host.strip("[]"))
    except ValueError:
        return None


def _parse_ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id


# Lookups run here so that a caller can stop waiting for one; a lookup the caller gave up on still
# finishes in its thread (the resolver's own timeouts end it), so a few threads are enough.
_LOOKUPS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dns")


def _resolve_by(
    resolver: Resolver, host: str, port: int, deadline: float | None, settings: Settings
) -> list[str]:
    if deadline is None:
        return resolver(host, port)
    lookup = _LOOKUPS.submit(resolver, host, port)
    try:
        return lookup.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        lookup.cancel()  # not started yet: never run it
        raise OSError(f"no answer within the fetch's {settings.fetch_deadline_s:g} s deadline") from None


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _get_with_retries(
    client: httpx.Client, target: _Target, settings: Settings, deadline: float
) -> bytes | str:
    last = ""
    url = str(target.url)
    for attempt in range(MAX_ATTEMPTS):
        try:
            return _get_once(client, target, settings, deadline)
        except _Transient as exc:
            last = str(exc)
            if attempt + 1 < MAX_ATTEMPTS:
                delay = RETRY_BASE_S * 2**attempt
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, RETRY_AFTER_CAP_S))
                if time.monotonic() + delay >= deadline:
                    break
                time.sleep(delay)
    raise FetchFailed(f"fetching {_shown(url)} failed after {attempt + 1} attempts: {last}", url=url)


def _get_once(client: httpx.Client, target: _Target, settings: Settings, deadline: float) -> bytes | str:
    """One request, on a connection to a checked address: the body, or the absolute URL of a redirect."""
    url = str(target.url)
    shown = _shown(url)
    if deadline - time.monotonic() <= 0:
        raise FetchFailed(_TOO_SLOW.format(url=shown, seconds=settings.fetch_deadline_s), url=url)
    # Identity: httpx decodes gzip a network read at a time, ~1000:1, before the size cap sees it
    # (a 2 MB response cost ~130 MB); images are compressed already.
    headers = {"Accept": "image/*", "Accept-Encoding": "identity"}
    _current.addresses = {(target.url.raw_host.decode("ascii").lower(), target.port): target.addresses}
    _current.deadline = deadline
    try:
        with client.stream("GET", target.url, headers=headers, follow_redirects=False) as response:
            status = response.status_code
            if status in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchFailed(f"redirect without Location from {shown}", url=url)
                try:
                    return urljoin(url, location)
                except ValueError as exc:  # "http://[zz": an IPv6 host that does not parse
                    raise _bad_redirect(shown, url, exc) from exc
            if status in _TRANSIENT_STATUS:
                raise _Transient(f"HTTP {status}", _retry_after(response.headers.get("retry-after")))
            if status != 200:
                raise FetchFailed(f"fetching {shown} gave HTTP {status}", url=url, status=status)
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise FetchFailed(f"{shown} was sent {encoding}-encoded though asked for none", url=url)
            body = _read_capped(response, url, settings.fetch_max_bytes, deadline)
            if body is None:
                raise FetchFailed(_TOO_SLOW.format(url=shown, seconds=settings.fetch_deadline_s), url=url)
            return body
    except httpx.TimeoutException as exc:
        if time.monotonic() >= deadline:
            raise FetchFailed(
                _TOO_SLOW.format(url=shown, seconds=settings.fetch_deadline_s), url=url
            ) from exc
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    except httpx.RemoteProtocolError as exc:
        if "location header" in str(exc).lower():  # a redirect's Location httpx cannot parse
            raise _bad_redirect(shown, url, exc) from exc
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    except httpx.ConnectError as exc:
        if isinstance(exc.__context__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            exc
        ):
            # Asking again would get the same certificate.
            raise FetchFailed(
                f"fetching {shown} failed: its TLS certificate was refused ({exc})", url=url
            ) from exc
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    except httpx.NetworkError as exc:  # a connection reset or dropped mid-answer: worth another try
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"fetching {shown} failed: {type(exc).__name__}: {exc}", url=url) from exc
    except (httpx.InvalidURL, UnicodeError) as exc:
        # httpx builds a redirect's next request even when not following it, and a Location it
        # cannot parse ("http:host/x", an IDNA label "xn--a") raised out of here as a 500.
        raise _bad_redirect(shown, url, exc) from exc
    finally:
        _current.addresses, _current.deadline = {}, None


def _bad_redirect(shown: str, url: str, exc: Exception) -> FetchFailed:
    return FetchFailed(f"{shown} redirected to an invalid URL ({exc})", url=url)


def _read_capped(response: httpx.Response, url: str, limit: int, deadline: float) -> bytes | None:
    """The body, or None if the deadline passed while it was arriving."""
    declared = _int_or_none(response.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise FetchRefused(f"{url} is {declared} bytes, over the {limit}-byte limit", url=url)
    body = bytearray()
    for chunk in _chunks(response):
        body += chunk
        if len(body) > limit:
            raise FetchRefused(f"{url} is over the {limit}-byte limit", url=url)
        if time.monotonic() > deadline:
            return None
        # Sniff as soon as the first bytes are in, so a large HTML page is not read to the end.
        if (
            len(body) >= SNIFF_BYTES
            and len(body) - len(chunk) < SNIFF_BYTES
            and not looks_like_image(bytes(body[:SNIFF_BYTES]))
        ):
            raise FetchFailed(_NOT_IMAGE.format(url=url), url=url)
    if not looks_like_image(bytes(body[:SNIFF_BYTES])):
        raise FetchFailed(_NOT_IMAGE.format(url=url), url=url)
    return bytes(body)


def _chunks(response: httpx.Response) -> Iterator[bytes]:
    # As the network delivers: with a chunk size, httpx would wait for a full chunk, and a server
    # trickling bytes would never reach the deadline check between chunks.
    yield from response.iter_bytes()


def _retry_after(value: str | None) -> float | None:
    seconds = _int_or_none(value)
    return None if seconds is None else float(max(0, seconds))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
