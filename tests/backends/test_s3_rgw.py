"""The s3 deleter on the real radosgw, through ``scrubctl`` on SQLite and MariaDB.

What an operator would notice: HEAD answers and bucket listings, incomplete uploads, the rows, the
exit codes, the reasons given, and that no key is ever printed.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

from tests.support.rgw import (  # the *_fixture imports register the fixtures rgw, s3
    RgwEnv,
    S3Side,
    refused_store_run,
    s3_store_section,
    silent_endpoint,
)
from tests.support.world import GlanceWorld

pytestmark = pytest.mark.ceph
STORE = "objects"


@pytest.fixture
def bucket(s3: S3Side) -> str:
    return s3.bucket()


@pytest.fixture
def s3_world(world: GlanceWorld, rgw: RgwEnv, bucket: str) -> GlanceWorld:
    """A Glance world with a multi-store S3 backend ``objects`` on the test gateway."""
    world.object_stores = {STORE: "s3"}
    world.extra_config = s3_store_section(rgw, STORE, bucket)
    world.scrub_time = 3600
    return world


def glance_image(world: GlanceWorld, s3: S3Side, bucket: str, *, keys: bool = False, **options: Any) -> str:
    """An object named by the image id and its rows, as Glance's S3 store writes them."""
    key = s3.put(bucket)
    world.image(image_id=key, urls=[s3.url(bucket, key, keys=keys)], stores=[STORE], size=16 * 1024, **options)
    return key


def scrub(world: GlanceWorld, *args: str) -> tuple[int, dict[str, Any], str]:
    result = world.cli("scrub", "--yes", "-f", "json", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout), result.stdout + result.stderr


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in document["images"]}


def test_scrub_erases_exactly_what_is_due(s3_world: GlanceWorld, s3: S3Side, bucket: str, rgw: RgwEnv) -> None:
    plain = glance_image(s3_world, s3, bucket)
    with_keys = glance_image(s3_world, s3, bucket, keys=True)  # glance_store <= 5.5: '/' and '+' in the secret
    uploading = glance_image(s3_world, s3, bucket)
    s3.incomplete_upload(bucket, uploading)
    recent = glance_image(s3_world, s3, bucket, deleted_ago=timedelta(minutes=5))
    code, document, output = scrub(s3_world)
    assert code == 0, document
    results = by_id(document)
    assert {results[image]["result"] for image in (plain, with_keys, uploading)} == {"scrubbed"}
    assert recent not in results
    for image in (plain, with_keys, uploading):
        assert not s3.exists(bucket, image)
        assert s3_world.status(image) == "deleted"
    assert s3.keys(bucket) == [recent]
    assert s3.uploads(bucket) == []
    assert s3_world.status(recent) == "pending_delete"
    assert rgw.secret_key not in output
    assert rgw.secret_key.split("/")[1] not in output
    again_code, again, _ = scrub(s3_world)
    assert (again_code, again["images"]) == (0, [])


def test_an_object_already_gone_counts_as_erased(s3_world: GlanceWorld, s3: S3Side, bucket: str) -> None:
    image = glance_image(s3_world, s3, bucket)
    s3.client.delete_object(Bucket=bucket, Key=image)
    code, document, _ = scrub(s3_world)
    assert code == 0
    assert by_id(document)[image]["result"] == "scrubbed"
    assert s3_world.status(image) == "deleted"


def test_dry_run_changes_nothing(s3_world: GlanceWorld, s3: S3Side, bucket: str) -> None:
    images = [glance_image(s3_world, s3, bucket) for _ in range(3)]
    s3.incomplete_upload(bucket, images[0])
    before = (s3_world.checksum(), s3.keys(bucket), s3.uploads(bucket))
    code, document, _ = scrub(s3_world, "--dry-run")
    assert code == 0
    assert {item["result"] for item in document["images"]} == {"would_scrub"}
    assert (s3_world.checksum(), s3.keys(bucket), s3.uploads(bucket)) == before


def test_restore_checks_the_object_is_there(s3_world: GlanceWorld, s3: S3Side, bucket: str) -> None:
    present = glance_image(s3_world, s3, bucket)
    gone = glance_image(s3_world, s3, bucket)
    s3.client.delete_object(Bucket=bucket, Key=gone)
    result = s3_world.cli("restore", "-f", "json", present, gone)
    document = by_id(json.loads(result.stdout))
    assert result.exit_code == 1
    assert document[present]["result"] == "restored"
    assert document[gone]["result"] == "refused"
    assert s3_world.status(present) == "active"
    assert s3_world.status(gone) == "pending_delete"


def test_a_wrong_key_fails_the_run_in_one_line(s3_world: GlanceWorld, s3: S3Side, bucket: str, rgw: RgwEnv) -> None:
    images = [glance_image(s3_world, s3, bucket) for _ in range(3)]
    wrong = "Wrong/Secret+Key0000000000000000000000"
    s3_world.extra_config = s3_store_section(rgw, STORE, bucket, secret=wrong)
    refused_store_run(
        s3_world,
        images,
        wrong,
        in_reason="s3_store_secret_key",
        last_line=f"scrubctl: unreachable: store {STORE}: reading S3 object ",
    )
    for image in images:
        assert s3.exists(bucket, image)
        assert s3_world.status(image) == "pending_delete"


def test_a_wrong_key_in_a_location_url_fails_that_image(
    s3_world: GlanceWorld, s3: S3Side, bucket: str, rgw: RgwEnv
) -> None:
    wrong = "Wrong/Url+Key1111111111111111111111111"
    refused = s3.put(bucket)
    s3_world.image(image_id=refused, urls=[s3.url(bucket, refused, keys=True, secret=wrong)], stores=[STORE])
    fine = glance_image(s3_world, s3, bucket)
    code, document, output = scrub(s3_world)
    assert code == 1  # that image failed; the store's own keys work
    results = by_id(document)
    assert (results[refused]["result"], results[fine]["result"]) == ("failed", "scrubbed")
    assert "credentials in the location URL" in results[refused]["reason"]
    assert wrong not in output
    assert wrong.split("/")[1] not in output
    assert s3.exists(bucket, refused)
    assert not s3.exists(bucket, fine)
    assert s3_world.status(refused) == "pending_delete"


def test_a_hung_endpoint_is_exit_3_within_the_timeout(s3_world: GlanceWorld, s3: S3Side, bucket: str) -> None:
    keys = [s3.put(bucket) for _ in range(3)]
    with silent_endpoint() as hung:  # accepts connections, never answers
        for key in keys:
            s3_world.image(image_id=key, urls=[f"s3://{hung}/{bucket}/{key}"], stores=[STORE])
        s3_world.extra_config = s3_store_section(s3.env, STORE, bucket, host=hung, timeout=2)
        started = time.monotonic()
        code, _document, output = scrub(s3_world, "--concurrency", "2")
        elapsed = time.monotonic() - started
    assert code == 3, output
    assert elapsed < 2 * 2 + 5  # each worker waits at most one timeout, then the store is known down
    assert {s3_world.status(key) for key in keys} == {"pending_delete"}


def test_list_pending_show_and_check_backends_mask_the_keys(
    s3_world: GlanceWorld, s3: S3Side, bucket: str, rgw: RgwEnv
) -> None:
    image = glance_image(s3_world, s3, bucket, keys=True)
    foreign = s3.put(bucket)
    s3_world.image(image_id=foreign, urls=[s3.url(bucket, foreign, host="s3.elsewhere.example")], stores=[STORE])
    listed = s3_world.cli("list-pending", "--check-backends", "-f", "json")
    assert listed.exit_code == 0, listed.stderr
    entries = {entry["id"]: entry for entry in json.loads(listed.stdout)}
    assert entries[image]["locations"][0]["url"] == f"s3://{rgw.access_key}:***@{rgw.host}/{bucket}/{image}"
    assert not entries[image]["blockers"]
    assert any("s3.elsewhere.example" in reason for reason in entries[foreign]["blockers"])
    shown = s3_world.cli("show", image)
    assert shown.exit_code == 0, shown.stderr
    for output in (listed.stdout + listed.stderr, shown.stdout + shown.stderr):
        assert rgw.secret_key not in output
        assert rgw.secret_key.split("/")[1] not in output
    checked = s3_world.cli("check")
    assert f"store {STORE} (s3)" in checked.stdout + checked.stderr
