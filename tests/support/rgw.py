"""The object-store part of the Ceph tier: the real radosgw named by ``SCRUBCTL_TEST_RGW_ENV``.

``scripts/test`` starts it with the cluster (``scripts/rgw-start``) and exports the path of its
``rgw.env``. Tests arrange and inspect objects through the real APIs (boto3 for S3, swiftclient for
Swift) as the test user; every bucket or object a test creates is removed afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tier
from tests.support.world import GlanceWorld

ENV_VARIABLE = "SCRUBCTL_TEST_RGW_ENV"
TIMEOUT = 5  # scrubctl_store_timeout given to scrubctl in these tests
OBJECT_BYTES = 16 * 1024


@dataclass(frozen=True)
class RgwEnv:
    """What ``scripts/rgw-start`` wrote into ``RUN_DIR/rgw.env``."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    swift_auth_url: str = ""
    swift_user: str = ""
    swift_key: str = field(default="", repr=False)

    @property
    def host(self) -> str:
        """``127.0.0.1:7480``: the endpoint as Glance writes it into S3 URLs."""
        return self.endpoint.split("://", 1)[1].strip("/")


def rgw_env() -> RgwEnv:
    """The test gateway, or skip (fail when the ceph tier is required) when there is none."""
    name = os.environ.get(ENV_VARIABLE)
    if not name:
        require_tier("ceph", f"{ENV_VARIABLE} is not set (scripts/test starts radosgw and sets it)")
    path = Path(str(name))
    if not path.is_file():
        require_tier("ceph", f"{ENV_VARIABLE}={path} does not exist")
    values = dict(
        line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line and line[0] != "#"
    )
    return RgwEnv(
        endpoint=values["RGW_ENDPOINT"],
        access_key=values["RGW_S3_ACCESS_KEY"],
        secret_key=values["RGW_S3_SECRET_KEY"],
        swift_auth_url=values["RGW_SWIFT_AUTH_URL"],
        swift_user=values["RGW_SWIFT_USER"],
        swift_key=values["RGW_SWIFT_KEY"],
    )


def dead_endpoint() -> str:
    """``127.0.0.1:PORT`` where nothing listens (a port just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """``127.0.0.1:PORT`` that accepts connections and never answers (a hung server), for the block."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


class S3Side:
    """The test user's S3 view of the gateway, to arrange objects and assert on what is left."""

    def __init__(self, env: RgwEnv) -> None:
        import boto3
        from botocore.config import Config

        self.env = env
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=env.endpoint,
            aws_access_key_id=env.access_key,
            aws_secret_access_key=env.secret_key,
            region_name="RegionOne",
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 2, "mode": "standard"}),
        )
        self.buckets: list[str] = []

    def bucket(self) -> str:
        """A fresh bucket for one test (names are unique per gateway)."""
        name = f"glance-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def put(self, bucket: str, key: str | None = None, size: int = OBJECT_BYTES) -> str:
        """An object as Glance's S3 store writes one: named by the image id."""
        key = key or str(uuid.uuid4())
        self.client.put_object(Bucket=bucket, Key=key, Body=os.urandom(size))
        return key

    def incomplete_upload(self, bucket: str, key: str) -> str:
        """A multipart upload of ``key`` begun (one part sent) and never completed nor aborted."""
        upload = str(self.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
        self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=os.urandom(1024))
        return upload

    def exists(self, bucket: str, key: str) -> bool:
        """HEAD: 200 or 404."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise
        return True

    def keys(self, bucket: str) -> list[str]:
        """Every key the bucket lists."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def uploads(self, bucket: str) -> list[str]:
        """The keys of every incomplete multipart upload in the bucket."""
        return sorted(item["Key"] for item in self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    def url(
        self, bucket: str, key: str, *, keys: bool = False, host: str | None = None, secret: str | None = None
    ) -> str:
        """The location URL glance_store writes: with the keys (up to 5.5) or without (5.6+);
        ``secret`` replaces the test user's secret key in it."""
        credentials = f"{self.env.access_key}:{secret or self.env.secret_key}@" if keys else ""
        return f"s3://{credentials}{host or self.env.host}/{bucket}/{key}"

    def cleanup(self) -> None:
        """Remove every bucket a test created, with its objects and uploads."""
        for bucket in self.buckets:
            for item in self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
                self.client.abort_multipart_upload(Bucket=bucket, Key=item["Key"], UploadId=item["UploadId"])
            for key in self.keys(bucket):
                self.client.delete_object(Bucket=bucket, Key=key)
            self.client.delete_bucket(Bucket=bucket)
        self.buckets.clear()


def s3_store_section(
    env: RgwEnv,
    name: str,
    bucket: str,
    *,
    keys: bool = True,
    secret: str | None = None,
    host: str | None = None,
    timeout: int = TIMEOUT,
) -> str:
    """A multi-store section for an S3 store on the test gateway."""
    lines = [
        f"\n[{name}]",
        f"s3_store_host = http://{host or env.host}",
        f"s3_store_bucket = {bucket}",
        "s3_store_bucket_url_format = path",
        "s3_store_region_name = RegionOne",
        f"scrubctl_store_timeout = {timeout}",
    ]
    if keys:
        lines += [f"s3_store_access_key = {env.access_key}", f"s3_store_secret_key = {secret or env.secret_key}"]
    return "\n".join(lines) + "\n"


class SwiftSide:
    """The test user's Swift view of the gateway (v1 auth), to arrange objects as Glance does."""

    def __init__(self, env: RgwEnv, container: str = "glance") -> None:
        import swiftclient

        self.env = env
        self.container = container
        self.client: Any = swiftclient.Connection(
            authurl=env.swift_auth_url, user=env.swift_user, key=env.swift_key, auth_version="1", retries=2
        )
        self.client.put_container(container)
        self.created: list[tuple[str, str]] = []

    def put(self, name: str | None = None, size: int = OBJECT_BYTES, container: str | None = None) -> str:
        """A plain object, as Glance writes an image below ``swift_store_large_object_size``."""
        name = name or str(uuid.uuid4())
        container = container or self.container
        self.client.put_object(container, name, os.urandom(size))
        self.created.append((container, name))
        return name

    def put_many(self, names: Sequence[str], body: bytes = b"x", threads: int = 8) -> None:
        """Many small objects at once, with one connection per thread (a swiftclient connection is
        not safe to share between threads)."""
        import swiftclient

        storage_url, token = self.client.get_auth()
        local = threading.local()

        def put(name: str) -> None:
            if not hasattr(local, "client"):
                local.client = swiftclient.Connection(preauthurl=storage_url, preauthtoken=token, retries=2)
            local.client.put_object(self.container, name, body)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, names))

    def dlo(self, segments: int = 4, size: int = 4096, *, manifest: bool = True) -> str:
        """A large image as Glance writes it: ``<id>-00001``... then a zero-byte manifest (or none)."""
        name = str(uuid.uuid4())
        for index in range(1, segments + 1):
            self.put(f"{name}-{index:05d}", size)
        if manifest:
            self.client.put_object(
                self.container, name, b"", headers={"X-Object-Manifest": f"{self.container}/{name}-"}
            )
            self.created.append((self.container, name))
        return name

    def slo(self, segments: int = 3, size: int = 16 * 1024) -> str:
        """A static large object (Glance never writes one, but accepts it)."""
        import hashlib
        import json

        name = str(uuid.uuid4())
        parts = []
        for index in range(segments):
            data = os.urandom(size)
            segment = f"{name}/slo/{index:05d}"
            self.client.put_object(self.container, segment, data)
            self.created.append((self.container, segment))
            parts.append(
                {
                    "path": f"/{self.container}/{segment}",
                    "etag": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                    "size_bytes": size,
                }
            )
        self.client.put_object(self.container, name, json.dumps(parts), query_string="multipart-manifest=put")
        self.created.append((self.container, name))
        return name

    def exists(self, name: str, container: str | None = None) -> bool:
        """HEAD: 200 or 404."""
        from swiftclient import ClientException

        try:
            self.client.head_object(container or self.container, name)
        except ClientException as error:
            if error.http_status == 404:
                return False
            raise
        return True

    def names(self, prefix: str, container: str | None = None) -> list[str]:
        """Every name the container lists under ``prefix`` (all pages)."""
        _headers, items = self.client.get_container(container or self.container, prefix=prefix, full_listing=True)
        return sorted(item["name"] for item in items)

    def url(self, name: str, *, reference: str = "ref1", container: str | None = None) -> str:
        """``swift+config://ref1/glance/<id>``, as glance_store 5 writes it."""
        return f"swift+config://{reference}/{container or self.container}/{name}"

    def url_with_credentials(self, name: str, container: str | None = None, *, key: str | None = None) -> str:
        """``swift+http://user:key@auth/glance/<id>``, as older Glance wrote it (credentials quoted);
        ``key`` replaces the test user's key."""
        from urllib.parse import quote

        auth = self.env.swift_auth_url.split("://", 1)[1]
        credentials = f"{quote(self.env.swift_user, safe='')}:{quote(key or self.env.swift_key, safe='')}"
        return f"swift+http://{credentials}@{auth}/{container or self.container}/{name}"

    def cleanup(self) -> None:
        """Remove every object a test created (already gone is fine)."""
        from swiftclient import ClientException

        for container, name in self.created:
            try:
                self.client.delete_object(container, name)
            except ClientException as error:
                if error.http_status != 404:
                    raise
        self.created.clear()


def swift_store_section(
    env: RgwEnv,
    name: str,
    directory: Path,
    *,
    key: str | None = None,
    auth_url: str | None = None,
    timeout: int = TIMEOUT,
    container: str = "glance",
) -> str:
    """A multi-store section for a Swift store on the test gateway, with its glance-swift.conf
    (reference ``ref1``, v1 auth: RGW's built-in auth) written into ``directory``."""
    references = directory / f"{name}-glance-swift.conf"
    references.write_text(
        f"[ref1]\nuser = {env.swift_user}\nkey = {key or env.swift_key}\n"
        f"auth_address = {auth_url or env.swift_auth_url}\nauth_version = 1\n",
        encoding="utf-8",
    )
    return (
        f"\n[{name}]\nswift_store_config_file = {references}\ndefault_swift_reference = ref1\n"
        f"swift_store_container = {container}\nscrubctl_store_timeout = {timeout}\n"
    )


@pytest.fixture(scope="session", name="rgw")
def rgw_fixture() -> RgwEnv:
    """The test gateway's endpoint and credentials."""
    return rgw_env()


@pytest.fixture(name="s3")
def s3_fixture(rgw: RgwEnv) -> Iterator[S3Side]:
    """S3 access for one test; its buckets are removed afterwards."""
    side = S3Side(rgw)
    try:
        yield side
    finally:
        side.cleanup()


@pytest.fixture(name="swift")
def swift_fixture(rgw: RgwEnv) -> Iterator[SwiftSide]:
    """Swift access for one test; the objects it creates are removed afterwards."""
    side = SwiftSide(rgw)
    try:
        yield side
    finally:
        side.cleanup()


def refused_store_run(world: GlanceWorld, images: list[str], secret: str, *, in_reason: str, last_line: str) -> str:
    """Scrub ``images`` while the store refuses its configured credentials (``secret``): the run fails
    as bad configuration (exit 3, not 4), every image ``failed`` with a one-line reason naming
    ``in_reason``, stderr one line per message ending with ``last_line...``, no traceback, the secret
    nowhere. Returns that last line."""
    result = world.cli("scrub", "--yes", "-f", "json", "--concurrency", "2")
    assert result.exit_code == 3  # bad configuration: the timer's unit fails (not 4, blocked)
    document = {item["id"]: item for item in json.loads(result.stdout)["images"]}
    assert {document[image]["result"] for image in images} == {"failed"}
    reason = document[images[0]]["reason"]
    assert "refused the credentials" in reason
    assert in_reason in reason
    assert "\n" not in reason
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(last_line), result.stderr
    assert all(line.startswith(("<", "scrubctl: ")) for line in lines), result.stderr  # one line each
    assert "Traceback" not in result.stderr
    assert secret not in result.stdout + result.stderr
    return lines[-1]
