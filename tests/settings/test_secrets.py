"""Masking secrets: URL userinfo whatever it holds, in every output and log line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from scrubctl.output.renderer import Renderer
from scrubctl.output.views import Lines
from scrubctl.settings.secrets import mask_text, mask_url, redact_database_url, url_password
from scrubctl.unattended.audit import JsonLinesAudit
from scrubctl.unattended.logs import configure_logging
from tests.support.world import GlanceWorld, invoke

# What glance_store up to 5.5 wrote for the s3 store: AWS secret keys often hold "/" and "+".
S3_SECRET = "wJalrXUt/K7MDENG/bPxRfiCY+EXAMPLEKEY"
S3_URL = f"s3://AKIAIOSFODNN7EXAMPLE:{S3_SECRET}@s3.example.com/glance/4a1b2c3d-0000-4000-8000-00000000000a"
# The same keys on a closed local port: the deleters' own errors (connection refused) quote them too.
S3_LOCAL_URL = f"s3://AKIAIOSFODNN7EXAMPLE:{S3_SECRET}@127.0.0.1:9/glance/4a1b2c3d-0000-4000-8000-00000000000a"
SWIFT_KEY = "sw1ft/K+ey"
SWIFT_URL = f"swift+http://tenant:glance:{SWIFT_KEY}@keystone.example:5000/v3/glance/4a1b2c3d-0000-4000-8000-0000000b"
SWIFT_LOCAL_URL = f"swift+http://tenant:glance:{SWIFT_KEY}@127.0.0.1:9/v3/glance/4a1b2c3d-0000-4000-8000-0000000b"
# The file deleter quotes a URL it refuses in its reason: the reason must be masked too.
FILE_URL = "file://backup:fi/le+pw@nas.example/images/4a1b2c3d"
SECRET_PIECES = ("wJalrXUt", "K7MDENG", "bPxRfiCY", "EXAMPLEKEY", "sw1ft", "K+ey", "fi/le", "le+pw")


def assert_no_secret(text: str) -> None:
    for piece in SECRET_PIECES:
        assert piece not in text, piece


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (S3_URL, "s3://AKIAIOSFODNN7EXAMPLE:***@s3.example.com/glance/4a1b2c3d-0000-4000-8000-00000000000a"),
        (SWIFT_URL, "swift+http://tenant:***@keystone.example:5000/v3/glance/4a1b2c3d-0000-4000-8000-0000000b"),
        ("s3+https://AK:se@cr/et@host/b/o", "s3+https://AK:***@host/b/o"),
        ("swift://account:s3cretkey@auth.example/container/obj", "swift://account:***@auth.example/container/obj"),
        ("mysql+pymysql://glance:pa/ss+w@db/glance", "mysql+pymysql://glance:***@db/glance"),
        ("s3://:only/secret@host/b/o", "s3://***@host/b/o"),
        ("file:///var/lib/glance/images/a@b", "file:///var/lib/glance/images/a@b"),
        ("rbd://fsid/images/4a1b2c3d/snap", "rbd://fsid/images/4a1b2c3d/snap"),
        ("http://example.com/path/a@b", "http://example.com/path/a@b"),
    ],
)
def test_userinfo_is_masked_whatever_it_holds(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_urls_inside_text_and_passwords_with_slashes() -> None:
    text = f"cannot erase {S3_URL}: denied; then {SWIFT_URL}, and 'swift://u:k/ey@h/c/o'"
    masked = mask_text(text, [])
    assert_no_secret(masked)
    assert "k/ey" not in masked
    assert masked.count("***") == 3
    assert masked.startswith("cannot erase s3://AKIAIOSFODNN7EXAMPLE:***@s3.example.com/glance/")
    assert url_password("mysql+pymysql://glance:pa/ss+w@db/glance") == "pa/ss+w"
    assert (
        redact_database_url("mysql+pymysql://glance:pa/ss+w@db:3306/glance")
        == "mysql+pymysql://glance:***@db:3306/glance"
    )
    assert redact_database_url("mysql+pymysql://root@127.0.0.1/glance") == "mysql+pymysql://root@127.0.0.1/glance"


def test_log_lines_are_masked() -> None:
    stream = io.StringIO()
    configure_logging(0, lambda text: mask_text(text, []), stream)
    logging.getLogger("scrubctl.test").warning("erasing %s then %s", S3_URL, SWIFT_URL)
    assert "AKIAIOSFODNN7EXAMPLE:***@s3.example.com" in stream.getvalue()
    assert_no_secret(stream.getvalue())


def test_a_database_password_with_a_slash_never_appears() -> None:
    result = invoke(["--db-url", "mysql+pymysql://glance:pa/ss+w0rd@127.0.0.1:9/glance", "-v", "list-pending"])
    assert result.exit_code == 3
    assert "cannot connect to mysql+pymysql://glance:***@127.0.0.1:9/glance" in result.stderr
    assert "ss+w0rd" not in result.stderr + result.stdout


def test_s3_and_swift_keys_never_appear_in_any_output(world: GlanceWorld) -> None:
    s3_image = world.image(urls=[S3_LOCAL_URL], stores=[None], write_files=False)
    swift_image = world.image(urls=[SWIFT_LOCAL_URL], stores=[None], write_files=False)
    file_image = world.image(urls=[FILE_URL], write_files=False)
    outputs = []
    for args in (
        ["list-pending"],
        ["list-pending", "--check-backends", "-f", "json"],
        ["show", file_image, "-f", "json"],
        ["show", file_image],
        ["list-pending", "-f", "json"],
        ["list-pending", "-f", "csv"],
        ["list-pending", "-f", "value"],
        ["show", s3_image],
        ["show", swift_image, "-f", "json"],
        ["show", s3_image, "-f", "value"],
        ["-v", "scrub", "--dry-run"],
        ["-v", "scrub", "--dry-run", "-f", "json"],
    ):
        result = world.cli(*args)
        assert result.exit_code in (0, 1, 3), (args, result.stderr)  # 3: the object stores are unreachable
        outputs.append(result.stdout + result.stderr)
    assert_no_secret("\n".join(outputs))
    listed = {item["id"]: item for item in json.loads(world.cli("list-pending", "-f", "json").stdout)}
    assert (
        listed[s3_image]["locations"][0]["url"]
        == mask_url(S3_LOCAL_URL)
        == ("s3://AKIAIOSFODNN7EXAMPLE:***@127.0.0.1:9/glance/4a1b2c3d-0000-4000-8000-00000000000a")
    )
    assert listed[swift_image]["locations"][0]["url"] == mask_url(SWIFT_LOCAL_URL)
    scrubbed = json.loads(world.cli("scrub", "--dry-run", "-f", "json").stdout)
    reasons = {item["id"]: item["reason"] for item in scrubbed["images"]}
    assert "file://backup:***@nas.example/images/4a1b2c3d" in reasons[file_image]


def test_a_titled_table_masks_its_cells_as_an_objects_tables_do() -> None:
    out = io.StringIO()
    renderer = Renderer(stdout=out, stderr=io.StringIO())
    rows = [[S3_URL, Lines([SWIFT_URL, FILE_URL])]]
    renderer.table("Broken images", ["URL", "Locations"], rows)  # the table format of orphans and broken
    renderer.details("Image", [("url", S3_URL)], [("Locations", ["URL", "Locations"], rows)], {})
    shown = out.getvalue()
    assert_no_secret(shown)
    assert shown.count(mask_url(S3_URL)) == 3 and shown.count(mask_url(SWIFT_URL)) == 2


def test_audit_lines_are_masked(tmp_path: Path) -> None:
    trail = JsonLinesAudit(tmp_path / "audit.jsonl")
    trail.record("erase", {"url": S3_URL, "detail": f"cannot erase {SWIFT_URL}"})
    trail.close()
    (line,) = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(line)["url"] == mask_url(S3_URL)
    assert_no_secret(line)
