"""The Swift deleter's own object calls (``scrubctl.backends.swift.objects``): on the real radosgw
(names that need quoting, a listing paged with a marker, a refused token, a storage URL that hangs
after authentication) and against a small real HTTP server that closes kept-alive connections."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scrubctl.backends.swift.objects import ObjectClient, SwiftHttpError
from tests.support.certificates import self_signed
from tests.support.local_http import serving
from tests.support.rgw import (  # the *_fixture imports register the fixtures rgw, swift
    RgwEnv,
    SwiftSide,
    silent_endpoint,
    swift_store_section,
)
from tests.support.world import GlanceWorld


def client_of(swift: SwiftSide, token: str | None = None) -> ObjectClient:
    storage_url, real_token = swift.client.get_auth()
    return ObjectClient(storage_url, token or real_token, timeout=5, tls=None)


@pytest.mark.ceph
def test_names_that_need_quoting_are_read_listed_and_deleted(swift: SwiftSide) -> None:
    prefix = f"odd {uuid.uuid4()}"
    names = [f"{prefix}/a+b %41 é", f"{prefix}/a b?c#d", f"{prefix}/plain"]
    for name in names:
        swift.put(name, size=10)
    client = client_of(swift)
    assert client.head_object(swift.container, names[0])["content-length"] == "10"
    first = client.list_objects(swift.container, prefix=prefix, marker="", limit=2)
    rest = client.list_objects(swift.container, prefix=prefix, marker=first[-1]["name"], limit=2)
    last = client.list_objects(swift.container, prefix=prefix, marker=rest[-1]["name"], limit=2)
    assert sorted(item["name"] for item in first + rest) == sorted(names)
    assert last == []
    for name in names:
        client.delete_object(swift.container, name)
    assert swift.names(prefix) == []
    with pytest.raises(SwiftHttpError) as gone:
        client.delete_object(swift.container, names[0])
    assert gone.value.status == 404
    client.close()


@pytest.mark.ceph
def test_a_refused_token_is_an_http_error_and_a_blocked_location(swift: SwiftSide) -> None:
    name = swift.put()
    client = client_of(swift, token="AUTH_tk" + "0" * 32)
    with pytest.raises(SwiftHttpError) as refused:
        client.head_object(swift.container, name)
    assert refused.value.status in (401, 403)
    assert swift.exists(name)


@pytest.mark.ceph
def test_a_storage_url_that_hangs_after_authenticating_is_exit_3_within_the_timeout(
    world: GlanceWorld, swift: SwiftSide, rgw: RgwEnv, tmp_path: Path
) -> None:
    images = [swift.put() for _ in range(3)]
    world.object_stores = {"objects": "swift"}
    world.scrub_time = 3600
    for image in images:
        world.image(image_id=image, urls=[swift.url(image)], stores=["objects"])
    with silent_endpoint() as hung:  # authentication works; the object calls get no answer
        world.extra_config = swift_store_section(rgw, "objects", tmp_path, timeout=2) + (
            f"swift_store_endpoint = http://{hung}/swift/v1\n"
        )
        started = time.monotonic()
        result = world.cli("scrub", "--yes", "-f", "json", "--concurrency", "2")
        elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.stdout + result.stderr
    assert elapsed < 2 * 2 + 5  # each thread waits at most one timeout, then the store is known down
    assert {world.status(image) for image in images} == {"pending_delete"}
    assert all(swift.exists(image) for image in images)
    assert rgw.swift_key not in result.stdout + result.stderr


@contextmanager
def closing_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server on 127.0.0.1 that answers one request per connection with 204, advertises
    keep-alive, then closes the connection without saying so (a server's idle timeout). Yields its
    address and the number of connections it accepted."""
    accepted = [0]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                peer, _address = listener.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            with peer:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += peer.recv(4096)
                peer.sendall(b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stopping.set()
        thread.join()
        listener.close()


def test_a_kept_alive_connection_the_server_closed_is_opened_again() -> None:
    with closing_server() as (address, accepted):
        client = ObjectClient(f"http://{address}/v1/AUTH_test", "token", timeout=5, tls=None)
        client.delete_object("glance", "first")
        time.sleep(0.1)  # the server has closed the connection by now
        client.delete_object("glance", "second")  # the reused connection fails; a new one answers
        client.close()
    assert accepted[0] == 2


def test_a_connection_refused_on_a_new_connection_is_not_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ObjectClient(f"http://127.0.0.1:{port}/v1/AUTH_test", "token", timeout=5, tls=None)
    with pytest.raises(ConnectionRefusedError):
        client.head_object("glance", "x")


@contextmanager
def tls_store(directory: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate that answers every call with
    404 (an object store where nothing is left); yields its address and the certificate."""
    import ssl
    from http.server import BaseHTTPRequestHandler

    class Gone(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _gone(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET = do_DELETE = _gone

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    cert_path, key_path = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    with serving(Gone, tls=context) as address:
        yield address, cert_path


def test_tls_is_verified_against_the_configured_ca_or_skipped_only_when_insecure(tmp_path: Path) -> None:
    import ssl

    from scrubctl.backends.swift.objects import tls_context

    with tls_store(tmp_path) as (address, certificate):
        url = f"https://{address}/v1/AUTH_test"
        untrusted = ObjectClient(url, "token", timeout=5, tls=tls_context(insecure=False, cacert=None))
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusted.head_object("glance", "x")
        for context in (tls_context(insecure=False, cacert=str(certificate)), tls_context(insecure=True, cacert=None)):
            client = ObjectClient(url, "token", timeout=5, tls=context)
            with pytest.raises(SwiftHttpError) as gone:
                client.head_object("glance", "x")
            assert gone.value.status == 404
            client.close()


@pytest.mark.ceph
def test_an_untrusted_store_certificate_is_exit_3_in_one_line_and_the_ca_option_fixes_it(
    world: GlanceWorld, swift: SwiftSide, rgw: RgwEnv, tmp_path: Path
) -> None:
    """Authentication on the gateway works; the storage URL is an HTTPS server whose certificate no
    system CA signed: nothing is erased or recorded, one clear line; with ``swift_store_cacert``
    naming it, the run goes through (the store has nothing left: already gone, recorded)."""
    image = str(uuid.uuid4())
    world.object_stores = {"objects": "swift"}
    world.scrub_time = 3600
    world.image(image_id=image, urls=[swift.url(image)], stores=["objects"], write_files=False)
    with tls_store(tmp_path) as (address, certificate):
        section = swift_store_section(rgw, "objects", tmp_path, timeout=2) + (
            f"swift_store_endpoint = https://{address}/swift/v1\n"
        )
        world.extra_config = section
        refused = world.cli("scrub", "--yes", "-f", "json")
        assert refused.exit_code == 3, refused.stdout + refused.stderr
        document = json.loads(refused.stdout)
        assert "TLS failed" in document["images"][0]["reason"]
        assert "swift_store_cacert" in document["images"][0]["reason"]
        assert world.status(image) == "pending_delete"
        world.extra_config = section + f"swift_store_cacert = {certificate}\n"
        trusted = world.cli("scrub", "--yes", "-f", "json")
    assert trusted.exit_code == 0, trusted.stdout + trusted.stderr
    assert json.loads(trusted.stdout)["images"][0]["result"] == "scrubbed"
    assert world.status(image) == "deleted"
    assert rgw.swift_key not in refused.stdout + refused.stderr + trusted.stdout + trusted.stderr
