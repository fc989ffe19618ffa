"""The safe fetcher against a real loopback server; refusals must happen before any connection."""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import logging
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image

from rights.config import Settings
from rights.errors import FetchRefused
from rights.fetch import FetchFailed, check_url, fetch_client, fetch_image, looks_like_image
from tests.image_server import ImageServer, Route, serve_images


def _png(seed: int = 1) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", (48, 48))
    img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48 * 48)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class Connections:
    """Every connection the fetcher opens, as (address, port, host name), from its debug log."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    @property
    def made(self) -> list[tuple[str, int, str]]:
        return [
            (str(r.args[0]), int(r.args[1]), str(r.args[2]))  # type: ignore[index]
            for r in self._caplog.records
            if r.name == "rights.fetch" and r.msg.startswith("connecting to")
        ]

    @property
    def addresses(self) -> list[str]:
        return [address for address, _, _ in self.made]


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with serve_images() as srv:
        yield srv


@pytest.fixture
def settings() -> Settings:
    return Settings(fetch_allow=["127.0.0.1/32"], fetch_max_bytes=200_000, fetch_timeout_s=5)


@pytest.fixture
def connections(caplog: pytest.LogCaptureFixture) -> Connections:
    caplog.set_level(logging.DEBUG, logger="rights.fetch")
    return Connections(caplog)


def test_fetches_image_from_allowed_loopback(server: ImageServer, settings: Settings) -> None:
    server.routes["/a.png"] = Route(body=_png(), headers={"Content-Type": "image/png"})
    assert fetch_image(server.url("/a.png"), settings=settings) == _png()


def test_follows_redirects_rechecking_each_hop(server: ImageServer, settings: Settings) -> None:
    server.routes["/start"] = Route(status=302, headers={"Location": "/middle"})
    server.routes["/middle"] = Route(status=301, headers={"Location": server.url("/a.png")})
    server.routes["/a.png"] = Route(body=_png())
    assert fetch_image(server.url("/start"), settings=settings) == _png()
    assert server.hits == ["/start", "/middle", "/a.png"]


def test_too_many_redirects_refused(server: ImageServer, settings: Settings) -> None:
    server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchRefused, match="too many redirects"):
        fetch_image(server.url("/loop"), settings=settings)
    assert len(server.hits) == settings.fetch_max_redirects + 1


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://10.0.0.1/x.png", "private"),
        ("http://[::ffff:10.0.0.1]/x.png", "private"),
        ("http://0.0.0.0/x.png", "unspecified"),
        ("http://224.0.0.1/x.png", "multicast"),
        ("http://100.64.0.1/x.png", "non-public"),
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.org/x.png", "only http and https"),
        ("gopher://127.0.0.1/", "only http and https"),
        ("http://[2002:7f00:1::]/x.png", "loopback"),  # 6to4 of 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/x.png", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/x.png", "private"),  # Teredo client 10.0.0.1
        ("http://a..b/x.png", "not a valid host name"),
        ("http://xn--/x.png", "not a valid host name"),
        ("http://" + "x" * 300 + ".example/x.png", "not a valid host name"),
    ],
)
def test_hostile_urls_refused_before_connecting(
    url: str, words: str, settings: Settings, connections: Connections
) -> None:
    with pytest.raises(FetchRefused, match=words):
        fetch_image(url, settings=settings)
    assert connections.made == []


def test_a_refusal_does_not_repeat_the_urls_password(settings: Settings, connections: Connections) -> None:
    with pytest.raises(FetchRefused) as refused:
        fetch_image("http://scanner:hunter2@169.254.169.254/latest/", settings=settings)
    assert connections.made == []
    assert "hunter2" not in refused.value.message and "scanner" not in refused.value.message
    assert "http://169.254.169.254/latest/" in refused.value.message
    assert refused.value.context["url"] == "http://169.254.169.254/latest/"


def test_loopback_refused_unless_allowed(server: ImageServer, connections: Connections) -> None:
    server.routes["/a.png"] = Route(body=_png())
    with pytest.raises(FetchRefused, match="loopback"):
        fetch_image(server.url("/a.png"), settings=Settings())
    assert connections.made == [] and server.hits == []


def test_broad_allow_never_opens_metadata() -> None:
    wide = Settings(fetch_allow=["169.254.0.0/16"])
    with pytest.raises(FetchRefused, match="cloud metadata"):
        check_url("http://169.254.169.254/", settings=wide)
    check_url("http://169.254.1.1/", settings=wide)  # the rest of the allowed CIDR is fine


@pytest.mark.parametrize(
    "target", ["169.254.169.254", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::"]
)
@pytest.mark.parametrize("allow", ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "64:ff9b::/96", "2002::/16"])
def test_no_broad_allow_opens_metadata_in_any_ip_form(allow: str, target: str) -> None:
    """``::/0`` let ``[::ffff:169.254.169.254]`` through, and it connects over IPv4."""
    host = f"[{target}]" if ":" in target else target
    with pytest.raises(FetchRefused, match="cloud metadata"):
        check_url(f"http://{host}/latest/", settings=Settings(fetch_allow=[allow]))


@pytest.mark.parametrize("location", ["http:127.0.0.1:9/x.png", "http://[zz", "http://xn--a/"])
def test_a_redirect_to_a_url_that_does_not_parse_fails_cleanly(
    server: ImageServer, settings: Settings, location: str
) -> None:
    """Each of these raised out of the fetch (an HTTP 500, a scan's ``internal_error``)."""
    server.routes["/bad"] = Route(status=302, headers={"Location": location})
    with pytest.raises(FetchFailed, match="redirected to an invalid URL"):
        fetch_image(server.url("/bad"), settings=settings)


def test_a_compressed_body_is_refused_before_it_is_inflated(server: ImageServer, settings: Settings) -> None:
    """httpx inflates gzip a read at a time before the size cap counts it: 2 MB cost ~130 MB. The
    fetch asks for no encoding, and refuses a server that sends one anyway."""
    server.routes["/a.png"] = Route(body=gzip.compress(_png()), headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchFailed, match="gzip-encoded"):
        fetch_image(server.url("/a.png"), settings=settings)
    server.routes["/b.png"] = Route(body=_png(), headers={"Content-Encoding": "identity"})
    assert fetch_image(server.url("/b.png"), settings=settings) == _png()


def test_redirect_to_private_address_refused(
    server: ImageServer, settings: Settings, connections: Connections
) -> None:
    server.routes["/bounce"] = Route(status=302, headers={"Location": "http://10.0.0.1/secret.png"})
    with pytest.raises(FetchRefused, match=r"10\.0\.0\.1"):
        fetch_image(server.url("/bounce"), settings=settings)
    assert connections.addresses == ["127.0.0.1"]  # only the loopback hop was ever contacted


def test_every_resolved_address_is_checked(settings: Settings, connections: Connections) -> None:
    # A name with one public and one private answer is refused: the private one could be used.
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "192.168.1.5"]

    with pytest.raises(FetchRefused, match=r"192\.168\.1\.5"):
        fetch_image("http://images.example/x.png", settings=settings, resolver=resolver)
    assert connections.made == []


def test_a_dns_lookup_that_never_answers_ends_at_the_deadline(connections: Connections) -> None:
    """``getaddrinfo`` has no timeout of its own: a dead resolver held a scan worker for its own
    retries (~40 s), outside the fetch's deadline (an audit)."""
    answered = threading.Event()

    def silent(host: str, port: int) -> list[str]:
        answered.wait(10)
        return ["93.184.216.34"]

    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"cannot resolve host 'images\.example'.*0\.5 s deadline"):
        fetch_image("http://images.example/x.png", settings=Settings(fetch_deadline_s=0.5), resolver=silent)
    answered.set()
    assert time.monotonic() - started < 3 and connections.made == []


def test_named_host_connects_to_the_address_it_was_checked_with(
    server: ImageServer, connections: Connections
) -> None:
    # The connection goes to the resolved (checked) address; the name travels in the request. The
    # system resolver knows no "images.test", so only the checked address could have been used.
    server.routes["/a.png"] = Route(body=_png())
    allowed = Settings(fetch_allow=["images.test"])
    url = f"http://images.test:{server.port}/a.png"
    body = fetch_image(url, settings=allowed, resolver=lambda h, p: ["127.0.0.1"])
    assert body == _png() and connections.made == [("127.0.0.1", server.port, "images.test")]


def test_a_dead_first_address_falls_back_to_the_next_checked_one(
    server: ImageServer, connections: Connections
) -> None:
    """Only the first resolved address was ever tried: a host whose IPv6 route is down always failed
    (an audit). The server listens on 127.0.0.1 only."""
    server.routes["/a.png"] = Route(body=_png())
    allowed = Settings(fetch_allow=["images.test"])
    url = f"http://images.test:{server.port}/a.png"
    body = fetch_image(url, settings=allowed, resolver=lambda h, p: ["127.0.0.2", "127.0.0.1"])
    assert body == _png() and connections.addresses == ["127.0.0.2", "127.0.0.1"]


def test_only_a_pinned_client_may_fetch(settings: Settings) -> None:
    with httpx.Client() as plain, pytest.raises(ValueError, match="fetch_client"):
        fetch_image("http://127.0.0.1/x.png", settings=settings, client=plain)


def test_size_cap_streamed(server: ImageServer) -> None:
    server.routes["/big.png"] = Route(body=_png() + b"\0" * 5000)
    small = Settings(fetch_allow=["127.0.0.1"], fetch_max_bytes=4000)
    with pytest.raises(FetchRefused, match="4000-byte limit"):
        fetch_image(server.url("/big.png"), settings=small)


def test_non_image_body_refused(server: ImageServer, settings: Settings) -> None:
    server.routes["/page"] = Route(body=b"<html>not an image</html>", headers={"Content-Type": "image/png"})
    with pytest.raises(FetchFailed, match="does not look like an image"):
        fetch_image(server.url("/page"), settings=settings)


def test_transient_errors_retried(server: ImageServer, settings: Settings) -> None:
    server.routes["/flaky.png"] = Route(body=_png(), fail_times=2, fail_status=503)
    server.routes["/busy.png"] = Route(body=_png(), fail_times=1, fail_status=429)
    assert fetch_image(server.url("/flaky.png"), settings=settings) == _png()
    assert fetch_image(server.url("/busy.png"), settings=settings) == _png()
    assert server.hits.count("/flaky.png") == 3


def test_retries_are_bounded(server: ImageServer, settings: Settings) -> None:
    server.routes["/down.png"] = Route(body=_png(), fail_times=99, fail_status=502)
    with pytest.raises(FetchFailed, match="after 3 attempts"):
        fetch_image(server.url("/down.png"), settings=settings)
    assert server.hits.count("/down.png") == 3


def test_not_found_is_not_retried(server: ImageServer, settings: Settings) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404"):
        fetch_image(server.url("/missing.png"), settings=settings)
    assert server.hits == ["/missing.png"]


def test_image_sniffing() -> None:
    assert looks_like_image(_png())
    assert looks_like_image(b"RIFF\0\0\0\0WEBPVP8 ")
    assert looks_like_image(b"\xff\xd8\xff\xe0")
    assert looks_like_image(b"\0\0\0\x1cftypavif\0\0\0\0")  # AVIF, which the decoder accepts too
    assert not looks_like_image(b"\0\0\0\x1cftypmp42\0\0\0\0")  # an MP4 video is no image
    assert not looks_like_image(b"<svg xmlns=")
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, "BMP")
    assert looks_like_image(bmp.getvalue()[:18])
    # Two letters used to be enough: any text starting "BM" passed as a bitmap (an audit).
    assert not looks_like_image(b"BMW 320d, 2019, one owner")


def test_a_trickling_server_is_cut_off_at_the_deadline() -> None:
    body = _png()

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body:  # every read returns in time, so only a deadline stops it
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    settings = Settings(fetch_allow=["127.0.0.1/32"], fetch_timeout_s=1, fetch_deadline_s=1.5)
    try:
        started = time.monotonic()
        with pytest.raises(FetchFailed, match=r"took longer than 1\.5 s"):
            fetch_image(f"http://127.0.0.1:{httpd.server_port}/slow.png", settings=settings)
        assert time.monotonic() - started < 4
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_avif_is_fetched_as_the_decoder_accepts_it() -> None:
    from indexes.decode import decode_image
    from tests import imagegen

    data = imagegen.encode(imagegen.artwork(3, (300, 200)), "AVIF")
    assert looks_like_image(data[:64])
    decoded = decode_image(data)
    assert decoded.format == "AVIF" and decoded.original_size == (300, 200)


def test_refusals_name_the_url_briefly_and_say_what_is_wrong(settings: Settings) -> None:
    with pytest.raises(FetchRefused) as long:
        check_url("http://example.org/" + "a" * 70_000, settings=settings)
    assert len(long.value.message) < 500 and "70,019 characters" in long.value.message
    for relative in (" http://example.org/a.png", "example.org/a.png"):
        with pytest.raises(FetchRefused, match="not an absolute http or https URL"):
            check_url(relative, settings=settings)


@contextlib.contextmanager
def _raw_server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP server that reads each request and lets ``answer`` write whatever it likes;
    yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the fetcher hanging up, as it should
            conn.recv(65536)
            answer(conn)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed at the end of the test
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def _continue_forever(conn: socket.socket) -> None:
    for _ in range(200):
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.1)


def _dribble_head(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(200):
        conn.sendall(b"a")
        time.sleep(0.1)


def _dribble_chunk_size(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10;")
    for _ in range(200):
        conn.sendall(b"a")
        time.sleep(0.1)


@pytest.mark.parametrize("answer", [_continue_forever, _dribble_head, _dribble_chunk_size])
def test_the_deadline_holds_while_the_head_or_chunk_framing_trickles_in(
    answer: Callable[[socket.socket], None],
) -> None:
    """Only body bytes were timed against the deadline: each byte of a response's head, of a chunk's
    size line, or an endless run of ``100 Continue`` answers reset the per-read timeout, and held a
    request thread or scan worker for ever (an audit)."""
    settings = Settings(fetch_allow=["127.0.0.1/32"], fetch_timeout_s=1, fetch_deadline_s=1.5)
    with _raw_server(answer) as port:
        started = time.monotonic()
        with pytest.raises(FetchFailed, match=r"took longer than 1\.5 s"):
            fetch_image(f"http://127.0.0.1:{port}/slow.png", settings=settings)
        assert time.monotonic() - started < 4


@pytest.mark.parametrize("port", ["0", "65536", "70000", "99999999999999999999"])
def test_a_port_out_of_range_is_refused(port: str, settings: Settings, connections: Connections) -> None:
    """70000 connected to port 4464; a 20-digit port raised OverflowError, a 500 (an audit)."""
    for host in ("127.0.0.1", "images.test"):
        with pytest.raises(FetchRefused, match=f"port {port} is out of range"):
            fetch_image(f"http://{host}:{port}/x.png", settings=settings)
    assert connections.made == []


def test_a_redirect_whose_location_does_not_parse_is_not_asked_again() -> None:
    """httpx's "Invalid URL in location header" was taken for a transient failure: asked 3 times."""
    asked: list[int] = []

    def redirect(conn: socket.socket) -> None:
        asked.append(1)
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n")

    settings = Settings(fetch_allow=["127.0.0.1/32"])
    with _raw_server(redirect) as port, pytest.raises(FetchFailed, match="redirected to an invalid URL"):
        fetch_image(f"http://127.0.0.1:{port}/r", settings=settings)
    assert asked == [1]


def test_a_connection_reset_is_retried() -> None:
    """A reset after the request was sent is the commonest transient failure; it was not retried."""
    png = _png()
    asked: list[int] = []

    def reset_then_answer(conn: socket.socket) -> None:
        asked.append(1)
        if len(asked) == 1:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return  # closing with linger 0 sends a reset
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(png) + png)

    settings = Settings(fetch_allow=["127.0.0.1/32"])
    with _raw_server(reset_then_answer) as port:
        assert fetch_image(f"http://127.0.0.1:{port}/a.png", settings=settings) == png
    assert len(asked) == 2


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate it signed for ``a.test`` only: (CA, certificate, key) PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def issued(
        subject: str, issuer: str, public_key: ec.EllipticCurvePublicKey, serial: int
    ) -> x509.CertificateBuilder:
        return x509.CertificateBuilder(
            issuer_name=name(issuer),
            subject_name=name(subject),
            public_key=public_key,
            serial_number=serial,
            not_valid_before=now,
            not_valid_after=now + datetime.timedelta(days=1),
        )

    ca = (
        issued("test CA", "test CA", ca_key.public_key(), 1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        issued("a.test", "test CA", key.public_key(), 2)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (folder / "ca.pem", folder / "a.pem", folder / "a.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def test_a_connection_verified_for_one_host_is_not_reused_for_another_on_its_address(
    tmp_path: Path,
) -> None:
    """Requests went to the checked IP as their URL, so connections were pooled by IP: after a.test,
    b.test on the same address was sent over a.test's connection and its certificate never checked
    (an audit). Pooled by name, b.test gets its own connection, whose certificate is refused, once."""
    ca, cert, key = _certificates(tmp_path)
    png = _png()
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the connection stays open for reuse

        def do_GET(self) -> None:
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    settings = Settings(fetch_allow=["a.test", "b.test"])
    port = httpd.server_port
    try:
        with fetch_client(settings, ssl_context=ssl.create_default_context(cafile=str(ca))) as client:
            fetch = functools.partial(
                fetch_image, settings=settings, client=client, resolver=lambda h, p: ["127.0.0.1"]
            )
            assert fetch(f"https://a.test:{port}/x.png") == png
            with pytest.raises(FetchFailed, match="TLS certificate was refused"):
                fetch(f"https://b.test:{port}/x.png")
        assert hosts == [f"a.test:{port}"]
    finally:
        httpd.shutdown()
        httpd.server_close()
