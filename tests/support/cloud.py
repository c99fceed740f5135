"""A Glance cloud for the container tier: a MariaDB database that a ``glance`` user of its own reaches
with a password, the test Ceph's rbd pool, Swift and S3 on its radosgw, and a file store; one
pending image in each store, and Glance's configuration as a deployment tool writes it.
"""

from __future__ import annotations

import configparser
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.conftest import mariadb_database
from tests.support.ceph import IMAGE_BYTES, Cluster
from tests.support.rgw import OBJECT_BYTES, RgwEnv, S3Side, SwiftSide
from tests.support.world import GlanceWorld

KOLLA_UID = 42415
FILE_STORE = "/var/lib/glance/images/"  # kolla's and openstack-helm's filesystem_store_datadir
FILE_BYTES = 64 * 1024


@dataclass
class Cloud:
    """The database, the stores and the images a recipe's container is pointed at."""

    world: GlanceWorld
    database_url: str = field(repr=False)  # as glance-api.conf holds it: the glance user's password in it
    password: str = field(repr=False)
    ceph: Cluster
    rgw: RgwEnv
    swift: SwiftSide
    s3: S3Side
    bucket: str
    images: dict[str, str] = field(default_factory=dict)  # store kind -> image id
    file_folder: Path | None = None  # the file store's folder on the host

    # -- what a deployment tool writes ----------------------------------------------------------

    def glance_api_conf(self, layout: str) -> str:
        """A multi-store glance-api.conf as kolla-ansible (``layout="kolla"``) or openstack-helm
        (``"openstack-helm"``) writes one, with a Swift and an S3 store added."""
        env = self.ceph.env
        kolla = layout == "kolla"
        swift_config = "/etc/glance/glance-swift.conf" if kolla else "/etc/glance/swift-store.conf"
        staging, tasks = (
            ("/var/lib/glance/staging/", "/var/lib/glance/tasks_work_dir/")
            if kolla
            else ("/var/lib/glance/tmp/os_glance_staging_store", "/var/lib/glance/tmp/os_glance_tasks_store")
        )
        return (
            "[DEFAULT]\n"
            "enabled_backends = file:file, http:http, rbd:rbd, swift:swift, s3:s3\n"
            + (
                "log_file = /var/log/kolla/glance/glance-api.log\n"
                if kolla
                else "log_config_append = /etc/glance/logging.conf\n"
            )
            + "\n[database]\n"
            f"connection = {self.database_url}\n"
            "max_retries = -1\n"
            "\n[glance_store]\n"
            'default_backend = "rbd"\n'
            f"\n[file]\nfilesystem_store_datadir = {FILE_STORE}\n"
            "\n[rbd]\n"
            f"rbd_store_user = {env.user}\nrbd_store_pool = {env.pool}\n"
            "rbd_store_ceph_conf = /etc/ceph/ceph.conf\nrados_connect_timeout = 10\n"
            "\n[swift]\n"
            f"swift_store_config_file = {swift_config}\ndefault_swift_reference = ref1\n"
            "swift_store_container = glance\nscrubctl_store_timeout = 10\n"
            "\n[s3]\n"
            f"s3_store_host = http://{self.rgw.host}\ns3_store_bucket = {self.bucket}\n"
            f"s3_store_access_key = {self.rgw.access_key}\ns3_store_secret_key = {self.rgw.secret_key}\n"
            "s3_store_bucket_url_format = path\ns3_store_region_name = RegionOne\nscrubctl_store_timeout = 10\n"
            f"\n[os_glance_staging_store]\nfilesystem_store_datadir = {staging}\n"
            f"\n[os_glance_tasks_store]\nfilesystem_store_datadir = {tasks}\n"
        )

    def swift_references(self) -> str:
        """glance-swift.conf (kolla) or swift-store.conf (openstack-helm): reference ``ref1``."""
        return (
            f"[ref1]\nuser = {self.rgw.swift_user}\nkey = {self.rgw.swift_key}\n"
            f"auth_address = {self.rgw.swift_auth_url}\nauth_version = 1\n"
        )

    def ceph_conf(self) -> str:
        """A client's ceph.conf for the test cluster: its fsid, monitors and authentication."""
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.read(self.ceph.env.conf)
        settings = ("fsid", "mon_host", "auth_cluster_required", "auth_service_required", "auth_client_required")
        return "[global]\n" + "".join(f"{name} = {parser['global'][name]}\n" for name in settings)

    def keyring(self) -> str:
        """``ceph.client.glance.keyring``."""
        return self.ceph.env.keyring.read_text(encoding="utf-8")

    def key(self) -> str:
        """The glance user's bare key, as the Secret images-rbd-keyring holds it."""
        for line in self.keyring().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "key":
                return value.strip()
        raise AssertionError("no key in the glance keyring")

    def secrets(self) -> dict[str, str]:
        """Every secret the recipes are given: none may appear in output, logs or the image."""
        return {
            "database password": self.password,
            "Ceph key": self.key(),
            "S3 secret key": self.rgw.secret_key,
            "Swift key": self.rgw.swift_key,
        }

    # -- the images -----------------------------------------------------------------------------

    def add_images(self, *, file_folder: Path | None) -> None:
        """One pending image (deleted a day ago) in each store: rbd, swift, s3, and file when the
        file store's host folder is given (files owned by glance, as Glance writes them)."""
        rbd_image = self.ceph.glance_image()
        self.world.image(
            image_id=rbd_image, urls=[self.ceph.url(rbd_image)], stores=["rbd"], write_files=False, size=IMAGE_BYTES
        )
        swift_object = self.swift.put()
        self.world.image(
            image_id=swift_object,
            urls=[self.swift.url(swift_object)],
            stores=["swift"],
            write_files=False,
            size=OBJECT_BYTES,
        )
        s3_object = self.s3.put(self.bucket)
        self.world.image(
            image_id=s3_object,
            urls=[self.s3.url(self.bucket, s3_object)],
            stores=["s3"],
            write_files=False,
            size=OBJECT_BYTES,
        )
        self.images = {"rbd": rbd_image, "swift": swift_object, "s3": s3_object}
        if file_folder is not None:
            file_image = str(uuid.uuid4())
            path = file_folder / file_image
            path.write_bytes(os.urandom(FILE_BYTES))
            os.chown(path, KOLLA_UID, KOLLA_UID)
            path.chmod(0o640)
            self.world.image(
                image_id=file_image,
                urls=[f"file://{FILE_STORE}{file_image}"],
                stores=["file"],
                write_files=False,
                size=FILE_BYTES,
            )
            self.images["file"] = file_image
            self.file_folder = file_folder

    def data_present(self) -> dict[str, bool]:
        """Whether each image's data is still in its store."""
        present = {
            "rbd": self.images["rbd"] in self.ceph.names(),
            "swift": self.swift.exists(self.images["swift"]),
            "s3": self.s3.exists(self.bucket, self.images["s3"]),
        }
        if self.file_folder is not None:
            present["file"] = (self.file_folder / self.images["file"]).exists()
        return present

    def statuses(self) -> dict[str, str]:
        """Each image's status in the database."""
        return {kind: self.world.status(image) for kind, image in self.images.items()}


def glance_user(admin_url: str) -> Iterator[tuple[str, str]]:
    """A database user of its own for the Glance database at ``admin_url``, with a password: the URL
    glance-api.conf holds (on 127.0.0.1, as a controller reaches its VIP) and the password."""
    url = make_url(admin_url)
    name, password = f"glance_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
    server = create_engine(admin_url)
    with server.begin() as connection:
        connection.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{password}'")
        connection.exec_driver_sql(f"GRANT ALL PRIVILEGES ON `{url.database}`.* TO '{name}'@'%%'")
    try:
        yield f"mysql+pymysql://{name}:{password}@127.0.0.1:{url.port or 3306}/{url.database}", password
    finally:
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")
        server.dispose()


@pytest.fixture(name="cloud")
def cloud_fixture(tmp_path: Path, ceph: Cluster, rgw: RgwEnv, s3: S3Side, swift: SwiftSide) -> Iterator[Cloud]:
    """A cloud on MariaDB with every store kind; the images are made by ``add_images``."""
    for admin_url in mariadb_database():
        for database_url, password in glance_user(admin_url):
            engine = create_engine(admin_url)
            world = GlanceWorld(kind="mariadb", url=admin_url, engine=engine, root=tmp_path / "world")
            try:
                yield Cloud(
                    world=world,
                    database_url=database_url,
                    password=password,
                    ceph=ceph,
                    rgw=rgw,
                    swift=swift,
                    s3=s3,
                    bucket=s3.bucket(),
                )
            finally:
                engine.dispose()
