"""Multi-tenant Swift on the real Keystone and radosgw (``scripts/keystone-start``): projects with a
user each, writing images as a multi-tenant Glance store does (container ``<container>_<id>`` in the
project's own account, the location URL the project's storage URL), and a store section whose
reference is the Keystone admin ``scrubber`` (what listing every owner's account takes).

Each test gets a container name of its own, so that listing every project's account finds only what
the test wrote; the projects themselves are made once and kept."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tier

KEYSTONE_ENV = "SCRUBCTL_TEST_KEYSTONE_ENV"
TENANTS = ("scrubctl-tenant-a", "scrubctl-tenant-b")
TENANT_PASSWORD = "tenant-password-7c1e"


def keystone_token(auth_url: str, user: str, password: str, project: str) -> str:
    """A project-scoped token for a user of the default domain."""
    import requests

    person = {"name": user, "domain": {"id": "default"}, "password": password}
    identity = {"methods": ["password"], "password": {"user": person}}
    scope = {"project": {"name": project, "domain": {"id": "default"}}}
    answer = requests.post(f"{auth_url}/auth/tokens", json={"auth": {"identity": identity, "scope": scope}}, timeout=30)
    answer.raise_for_status()
    return str(answer.headers["X-Subject-Token"])


def keystone_values(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of the file ``scripts/keystone-start`` wrote."""
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)


class Tenants:
    """Projects writing multi-tenant images, and the admin's view of every account."""

    def __init__(self, path: Path) -> None:
        values = keystone_values(path)
        self.auth_url = values["KEYSTONE_AUTH_URL"]
        self.admin_user = values["KEYSTONE_ADMIN_USER"]
        self.admin_password = values["KEYSTONE_ADMIN_PASSWORD"]
        self.member_user = values["KEYSTONE_USER"]
        self.member_password = values["KEYSTONE_PASSWORD"]
        self.endpoint = values["RGW_MT_ENDPOINT"]
        self.region = values["RGW_MT_REGION"]
        self.container = f"mt{uuid.uuid4().hex[:10]}"
        project, _, user = self.admin_user.partition(":")
        self.admin_token = keystone_token(self.auth_url, user, self.admin_password, project)
        self.projects = {name: self._project(name) for name in TENANTS}
        self._tokens: dict[str, str] = {}

    def _admin(self, method: str, path: str, **fields: Any) -> Any:
        import requests

        answer = requests.request(
            method, f"{self.auth_url}{path}", headers={"X-Auth-Token": self.admin_token}, timeout=30, **fields
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def _project(self, name: str) -> str:
        """The project's id; project, user (``<project>-user``) and role made when missing."""
        found = self._admin("GET", "/projects", params={"name": name})["projects"]
        project = (
            found[0]["id"]
            if found
            else self._admin("POST", "/projects", json={"project": {"name": name, "domain_id": "default"}})["project"][
                "id"
            ]
        )
        users = self._admin("GET", "/users", params={"name": f"{name}-user"})["users"]
        user = (
            users[0]["id"]
            if users
            else self._admin(
                "POST",
                "/users",
                json={"user": {"name": f"{name}-user", "password": TENANT_PASSWORD, "domain_id": "default"}},
            )["user"]["id"]
        )
        member = self._admin("GET", "/roles", params={"name": "member"})["roles"][0]["id"]
        self._admin("PUT", f"/projects/{project}/users/{user}/roles/{member}")
        return str(project)

    def account(self, tenant: str) -> str:
        """The tenant's storage URL (``http://host/swift/v1/AUTH_<project id>``)."""
        return f"{self.endpoint}/swift/v1/AUTH_{self.projects[tenant]}"

    def client(self, tenant: str) -> Any:
        """A swiftclient connection to the tenant's account, with the tenant's own token."""
        import swiftclient

        if tenant not in self._tokens:
            self._tokens[tenant] = keystone_token(self.auth_url, f"{tenant}-user", TENANT_PASSWORD, tenant)
        return swiftclient.Connection(preauthurl=self.account(tenant), preauthtoken=self._tokens[tenant])

    def put(self, tenant: str, image_id: str | None = None, *, size: int = 1024, segments: int = 0) -> str:
        """An image as a multi-tenant store writes it, by the tenant's user; its location URL. With
        ``segments``, a large image: ``<id>-00001``... and a manifest, in the image's container."""
        image_id = image_id or str(uuid.uuid4())
        container = f"{self.container}_{image_id}"
        client = self.client(tenant)
        client.put_container(container)
        if segments:
            for index in range(1, segments + 1):
                client.put_object(container, f"{image_id}-{index:05d}", b"s" * size)
            client.put_object(container, image_id, b"", headers={"X-Object-Manifest": f"{container}/{image_id}-"})
        else:
            client.put_object(container, image_id, b"x" * size)
        return self.url(tenant, image_id)

    def url(self, tenant: str, image_id: str) -> str:
        """``swift+http://host/swift/v1/AUTH_<project>/<container>_<id>/<id>``, as Glance writes it."""
        return f"swift+{self.account(tenant)}/{self.container}_{image_id}/{image_id}"

    def names(self, tenant: str, image_id: str) -> list[str] | None:
        """The objects of the image's container, or ``None`` when the container is gone."""
        from swiftclient import ClientException

        try:
            _headers, items = self.client(tenant).get_container(f"{self.container}_{image_id}", full_listing=True)
        except ClientException as error:
            if error.http_status == 404:
                return None
            raise
        return sorted(item["name"] for item in items)

    def store_section(self, name: str, directory: Path, *, member: bool = False, region: str | None = None) -> str:
        """A multi-tenant store section with its glance-swift.conf: the reference ``ref1`` is the
        Keystone admin (``member``: the plain service user, who may not list the projects)."""
        user, password = (self.member_user, self.member_password) if member else (self.admin_user, self.admin_password)
        references = directory / f"{name}-glance-swift.conf"
        references.write_text(
            f"[ref1]\nuser = {user}\nkey = {password}\nauth_address = {self.auth_url}\n"
            "user_domain_id = default\nproject_domain_id = default\n",
            encoding="utf-8",
        )
        return (
            f"\n[{name}]\nswift_store_multi_tenant = True\nswift_store_container = {self.container}\n"
            f"swift_store_config_file = {references}\ndefault_swift_reference = ref1\n"
            f"swift_store_region = {region or self.region}\nswift_store_endpoint_type = internalURL\n"
            "scrubctl_store_timeout = 10\n"
        )

    def cleanup(self) -> None:
        """Empty and remove every container of this test's name, in every tenant's account."""
        for tenant in TENANTS:
            client = self.client(tenant)
            _headers, containers = client.get_account(prefix=self.container, full_listing=True)
            for container in containers:
                for item in client.get_container(container["name"], full_listing=True)[1]:
                    client.delete_object(container["name"], item["name"])
                client.delete_container(container["name"])


def keystone_env_file() -> Path:
    """The file ``scripts/keystone-start`` wrote, named by ``SCRUBCTL_TEST_KEYSTONE_ENV`` (the tier
    ``ceph``: required or skipped as the tiers say)."""
    name = os.environ.get(KEYSTONE_ENV)
    if not name or not Path(name).is_file():
        require_tier("ceph", f"{KEYSTONE_ENV} does not name a file (scripts/test runs scripts/keystone-start)")
    return Path(str(name))


@pytest.fixture(name="tenants")
def tenants_fixture() -> Iterator[Tenants]:
    """Multi-tenant Swift for one test (the tier ``ceph``, with ``scripts/keystone-start``)."""
    side = Tenants(keystone_env_file())
    try:
        yield side
    finally:
        side.cleanup()
