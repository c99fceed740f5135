"""The accounts a multi-tenant Swift store keeps its images in, found through Keystone.

A multi-tenant store (``swift_store_multi_tenant``) writes each image into a container
``<container>_<image id>`` of its owner's account, at the storage URL the owner's token's catalog
gives (or ``swift_store_endpoint``). Keystone keeps that URL as a template naming the project
(``.../AUTH_$(project_id)s``, ``%(tenant_id)s``...), and fills it in for each token. Listing every
owner's account takes the template and Keystone's list of projects: both are admin calls, and
reaching another project's account takes Swift's ResellerAdmin role (RGW: a role of
``rgw_keystone_accepted_admin_roles``), the role deleting a multi-tenant image already needs.

An endpoint naming no project (``.../swift/v1``) hides each project's account behind that project's
own token: such a store cannot be listed, and the reason says so.
"""

from __future__ import annotations

import re
from typing import Any

from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.swift.auth import ENDPOINT_INTERFACES
from scrubctl.settings.config import StoreConfig

# Keystone fills in $(name)s and %(name)s in a catalog's URLs; these two name the project.
PROJECT_PLACEHOLDER = re.compile(r"[$%]\((?:project_id|tenant_id)\)s")
ADMIN_ROLE_HINT = (
    "listing a multi-tenant store's accounts needs a default_swift_reference user that may read "
    "Keystone's projects and endpoints and reach every project's account (Keystone's admin role; "
    "Swift's ResellerAdmin, RGW's rgw_keystone_accepted_admin_roles)"
)


def keystone_base(auth_url: str) -> str:
    """The Keystone v3 root of an auth URL."""
    base = auth_url.rstrip("/")
    return base if base.endswith("/v3") else base + "/v3"


class KeystoneCatalog:
    """The admin calls that name a multi-tenant store's accounts, with one Keystone token."""

    def __init__(self, requests: Any, base: str, token: str, *, timeout: float, verify: bool | str) -> None:
        self._requests = requests
        self._base = base
        self._headers = {"X-Auth-Token": token, "Accept": "application/json"}
        self._timeout = timeout
        self._verify = verify

    def _get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        answer = self._requests.get(
            url, headers=self._headers, params=params, timeout=self._timeout, verify=self._verify
        )
        if answer.status_code in (401, 403):  # the reference works, but may not do this: a blocked scan
            raise LocationBlocked(
                f"Keystone refused {url.removeprefix(self._base)} (HTTP {answer.status_code}): {ADMIN_ROLE_HINT}"
            )
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def endpoint_template(self, store: StoreConfig) -> str:
        """The object-store endpoint's URL as Keystone keeps it, for the store's service type,
        interface and region."""
        service_type = store.get("swift_store_service_type") or "object-store"
        interface = (store.get("swift_store_endpoint_type") or "publicURL").lower()
        interface = ENDPOINT_INTERFACES.get(interface, interface)
        region = store.get("swift_store_region") or None
        services = self._get(f"{self._base}/services", {"type": service_type}).get("services", [])
        for service in services:
            endpoints = self._get(f"{self._base}/endpoints", {"service_id": str(service["id"]), "interface": interface})
            for endpoint in endpoints.get("endpoints", []):
                if region and region not in (endpoint.get("region_id"), endpoint.get("region")):
                    continue
                return str(endpoint["url"])
        raise LocationBlocked(
            f"Keystone has no {service_type} endpoint for interface {interface}"
            + (f" in region {region}" if region else "")
        )

    def project_ids(self) -> list[str]:
        """Every project's id, page by page (``links.next``); a list Keystone cut short
        (``list_limit``) is refused: an account left out would be data never looked at."""
        ids: list[str] = []
        url: str | None = f"{self._base}/projects"
        while url:
            page = self._get(url)
            if page.get("truncated"):
                raise LocationBlocked(
                    "Keystone cut its list of projects short (list_limit): not every account could be listed"
                )
            ids.extend(str(project["id"]) for project in page.get("projects", []))
            url = (page.get("links") or {}).get("next") or None
        return ids


def account_urls(template: str, project_ids: list[str]) -> list[str]:
    """The storage URL of each project's account, the template filled in as Keystone fills it in."""
    if not PROJECT_PLACEHOLDER.search(template):
        raise LocationBlocked(
            f"the object-store endpoint {template} names no project: each project's containers are "
            "reached through that project's own token only (RGW: set rgw_swift_account_in_url and an "
            "endpoint ending in AUTH_$(project_id)s)"
        )
    return [PROJECT_PLACEHOLDER.sub(project_id, template) for project_id in sorted(set(project_ids))]
