"""Where a Swift location's credentials come from, and turning them into a storage URL and a token.

Credentials are the URL's own (``swift+http://user:key@auth/...``) or a reference of the store's
``swift_store_config_file`` (``swift+config://ref/...``; ``default_swift_reference`` for
multi-tenant locations). Two auth versions: Keystone v3 (password or application credential, as
glance_store 5 uses it: the object-store endpoint is picked from the catalog by
``swift_store_region``, ``swift_store_endpoint_type`` and ``swift_store_service_type``), and v1
(``X-Auth-User``/``X-Auth-Key``, older clouds and RGW's built-in auth), chosen by the reference's
``auth_version``, else the store's ``swift_store_auth_version``, else by an auth path ending in
``/auth/1.0`` or ``/auth/v1.0``, else 3. ``swift_store_endpoint`` replaces the storage URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrubctl.backends.base import LocationBlocked
from scrubctl.backends.remote import CredentialsRefused
from scrubctl.backends.swift.urls import SwiftUrl
from scrubctl.errors import BackendUnavailableError, ConfigError
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.oslo_syntax import OsloConfig

ENDPOINT_INTERFACES = {"publicurl": "public", "internalurl": "internal", "adminurl": "admin"}


@dataclass(frozen=True)
class Credentials:
    """Everything needed to authenticate once."""

    auth_url: str
    user: str = ""
    key: str = field(default="", repr=False)
    version: str = "3"
    user_domain_id: str | None = None
    user_domain_name: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    application_credential_id: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)
    where: str = ""

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to mask wherever they might appear."""
        return tuple(value for value in (self.key, self.application_credential_secret) if value)


def _version(text: str | None, auth_url: str) -> str:
    if text:
        return "1" if text.strip() in ("1", "1.0") else text.strip()
    return "1" if auth_url.rstrip("/").endswith(("/auth/1.0", "/auth/v1.0")) else "3"


def reference_credentials(store: StoreConfig, reference: str) -> Credentials:
    """The credentials of one section of the store's ``swift_store_config_file``."""
    path = store.get("swift_store_config_file")
    if not path:
        raise LocationBlocked(f"store {store.label} sets no swift_store_config_file for reference {reference!r}")
    try:
        config = OsloConfig.from_files([Path(path)])
    except ConfigError as error:
        raise BackendUnavailableError(f"store {store.label}: {error}") from None
    if not config.has_group(reference):
        raise LocationBlocked(f"reference {reference!r} is not a section of {path}")

    def value(key: str) -> str | None:
        return config.get(reference, key) or None

    auth_url = value("auth_address") or ""
    if not auth_url:
        raise LocationBlocked(f"reference {reference!r} of {path} has no auth_address")
    return Credentials(
        auth_url=auth_url,
        user=value("user") or "",
        key=value("key") or "",
        version=_version(value("auth_version") or store.get("swift_store_auth_version"), auth_url),
        user_domain_id=value("user_domain_id"),
        user_domain_name=value("user_domain_name"),
        project_domain_id=value("project_domain_id"),
        project_domain_name=value("project_domain_name"),
        application_credential_id=value("application_credential_id"),
        application_credential_secret=value("application_credential_secret"),
        where=f"reference {reference} of {path}",
    )


def default_reference(store: StoreConfig) -> str | None:
    """``default_swift_reference`` (Glance's default ``ref1``) when a ``swift_store_config_file`` is set."""
    if not store.get("swift_store_config_file"):
        return None
    return store.get("default_swift_reference") or "ref1"


def location_credentials(store: StoreConfig, location: SwiftUrl) -> Credentials:
    """The credentials a location is erased with, or :class:`LocationBlocked` with the reason."""
    if location.reference is not None:
        return reference_credentials(store, location.reference)
    if location.user is not None and location.key is not None:
        auth_url = location.http_address()
        return Credentials(
            auth_url=auth_url,
            user=location.user,
            key=location.key,
            version=_version(store.get("swift_store_auth_version"), auth_url),
            user_domain_id=store.get("swift_store_user_domain_id") or None,
            project_domain_id=store.get("swift_store_project_domain_id") or None,
            where="credentials of the location URL",
        )
    default = default_reference(store)
    if default is None:
        raise LocationBlocked(
            f"multi-tenant Swift location (no credentials in the URL, container {location.container} in the "
            f"owner's account): store {store.label} has no swift_store_config_file with a "
            "default_swift_reference whose user may reach that account"
        )
    return reference_credentials(store, default)


def _scoped_body(credentials: Credentials) -> dict[str, Any]:
    """The body of a Keystone v3 ``POST /auth/tokens``."""
    if credentials.application_credential_id:
        method: dict[str, Any] = {
            "methods": ["application_credential"],
            "application_credential": {
                "id": credentials.application_credential_id,
                "secret": credentials.application_credential_secret,
            },
        }
        return {"auth": {"identity": method}}
    project, _, user = credentials.user.rpartition(":")

    def domain(domain_id: str | None, name: str | None) -> dict[str, str]:
        return {"id": domain_id} if domain_id else {"name": name} if name else {"id": "default"}

    identity = {
        "methods": ["password"],
        "password": {
            "user": {
                "name": user,
                "domain": domain(credentials.user_domain_id, credentials.user_domain_name),
                "password": credentials.key,
            }
        },
    }
    body: dict[str, Any] = {"auth": {"identity": identity}}
    if project:
        body["auth"]["scope"] = {
            "project": {
                "name": project,
                "domain": domain(credentials.project_domain_id, credentials.project_domain_name),
            }
        }
    return body


def catalog_endpoint(catalog: list[dict[str, Any]], store: StoreConfig) -> str | None:
    """The object-store endpoint of a v3 catalog that the store's options select."""
    service_type = store.get("swift_store_service_type") or "object-store"
    interface = (store.get("swift_store_endpoint_type") or "publicURL").lower()
    interface = ENDPOINT_INTERFACES.get(interface, interface)
    region = store.get("swift_store_region") or None
    for service in catalog:
        if service.get("type") != service_type:
            continue
        for endpoint in service.get("endpoints", []):
            if endpoint.get("interface") != interface:
                continue
            if region and region not in (endpoint.get("region_id"), endpoint.get("region")):
                continue
            return str(endpoint["url"])
    return None


def keystone_v3(
    requests: Any, credentials: Credentials, store: StoreConfig, *, timeout: float, verify: bool | str
) -> tuple[str, str]:
    """``(storage URL, token)`` from Keystone v3; HTTP errors are raised as ``requests`` raises them."""
    base = credentials.auth_url.rstrip("/")
    if not base.endswith("/v3"):
        base += "/v3"
    answer = requests.post(f"{base}/auth/tokens", json=_scoped_body(credentials), timeout=timeout, verify=verify)
    if answer.status_code in (401, 403):
        raise CredentialsRefused(f"Keystone refused the {credentials.where} (HTTP {answer.status_code})")
    answer.raise_for_status()
    token = answer.headers.get("X-Subject-Token", "")
    endpoint = store.get("swift_store_endpoint") or catalog_endpoint(answer.json()["token"].get("catalog", []), store)
    if not endpoint:
        raise LocationBlocked(
            "Keystone's catalog has no object-store endpoint for swift_store_region / swift_store_endpoint_type"
        )
    return endpoint, token
