"""Which accounts a multi-tenant Swift store is listed in (no gateway needed; the real Keystone and
radosgw cases are in tests/orphans/test_orphans_multi_tenant.py): the endpoint template filled in as
Keystone fills it in, the URL Glance writes for a storage URL, and what an account refusing the
listing does to the scan."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.swift import SwiftDeleter
from scrubctl.backends.swift.accounts import account_urls
from scrubctl.backends.swift.inventory import AccountRefused, SwiftInventory, _Account
from scrubctl.backends.swift.urls import glance_storage_url
from tests.backends.test_inventory_contract import store_of

OWN = "https://swift.example/v1/AUTH_service"


@pytest.mark.parametrize(
    "template",
    [
        "https://swift.example/v1/AUTH_$(project_id)s",
        "https://swift.example/v1/AUTH_%(project_id)s",
        "https://swift.example/v1/AUTH_$(tenant_id)s",
        "https://swift.example/v1/AUTH_%(tenant_id)s",
    ],
)
def test_every_project_placeholder_keystone_knows_is_filled_in(template: str) -> None:
    assert account_urls(template, ["b2", "a1", "b2"]) == [
        "https://swift.example/v1/AUTH_a1",
        "https://swift.example/v1/AUTH_b2",
    ]


def test_an_endpoint_naming_no_project_cannot_be_listed() -> None:
    with pytest.raises(LocationBlocked, match="names no project"):
        account_urls("http://rgw.example:8080/swift/v1", ["a1"])


def test_a_storage_url_is_written_as_glance_writes_it() -> None:
    assert glance_storage_url("http://rgw:8080/swift/v1/AUTH_a1/") == "swift+http://rgw:8080/swift/v1/AUTH_a1"
    assert glance_storage_url("https://swift.example/v1/AUTH_a1") == "swift+https://swift.example/v1/AUTH_a1"


@pytest.fixture
def deleter(tmp_path: Path) -> Iterator[SwiftDeleter]:
    section = "\n[objects]\nswift_store_multi_tenant = True\nswift_store_container = glance\n"
    found = SwiftDeleter(store_of(section, tmp_path, "objects", "swift"))
    yield found
    found.close()


def refusing(refused: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts answer one container each, but those in ``refused`` refuse the reference."""

    def pages(self: Any, account: _Account, container: str | None) -> Iterator[list[dict[str, Any]]]:
        if account.storage_url in refused:
            raise AccountRefused(f"HTTP 403 in {account.storage_url}")
        yield [{"name": f"glance_{account.storage_url.rpartition('_')[2] if account.storage_url else 'x'}"}]

    monkeypatch.setattr(SwiftInventory, "_session", lambda self: (OWN, "token"))
    monkeypatch.setattr(SwiftInventory, "_pages", pages)


def accounts(*projects: str) -> list[_Account]:
    urls = account_urls("https://swift.example/v1/AUTH_$(project_id)s", list(projects))
    return [_Account(glance_storage_url(url), url) for url in urls]


def test_an_account_that_refuses_is_passed_over_with_a_warning_while_others_are_reached(
    deleter: SwiftDeleter, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    refusing({"https://swift.example/v1/AUTH_idle"}, monkeypatch)
    with caplog.at_level(logging.WARNING):
        found = SwiftInventory._containers(deleter, accounts("service", "a1", "idle"))
    assert sorted(name for _account, name in found) == ["glance_a1", "glance_service"]
    assert "1 of 3 accounts refused the listing" in caplog.text


def test_a_reference_reaching_only_its_own_account_cannot_list_the_store(
    deleter: SwiftDeleter, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing({"https://swift.example/v1/AUTH_a1", "https://swift.example/v1/AUTH_b2"}, monkeypatch)
    with pytest.raises(LocationBlocked, match="reach every project's account"):
        SwiftInventory._containers(deleter, accounts("service", "a1", "b2"))
