"""A Glance world for tests: a real database with the real schema, real file stores, a config file."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from scrubctl.cli import run
from scrubctl.glance.schema import REQUIRED_TABLES, image_locations, images
from scrubctl.glance.writer import NewImage, NewLocation, create_image, delete_image, delete_location_from_store
from scrubctl.settings.utc import glance_timestamp, utc_now

OWNER = "0c4e939acacf4376bdcd1129f1a054ad"


@dataclass
class CliResult:
    """What a scrubctl run printed and returned."""

    exit_code: int
    stdout: str
    stderr: str


@dataclass
class GlanceWorld:
    """One test's Glance: database, stores and configuration."""

    kind: str
    url: str
    engine: Engine
    root: Path
    scrub_time: int = 0
    encryption_key: str | None = None
    stores: dict[str, Path] = field(default_factory=dict)
    extra_config: str = ""
    # Stores of other drivers (name -> Glance driver, e.g. {"objects": "s3"}), enabled alongside the
    # file stores; their sections come from ``extra_config``.
    object_stores: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("fast", "archive", "legacy"):
            self.stores.setdefault(name, self.root / "stores" / name)
        for path in self.stores.values():
            path.mkdir(parents=True, exist_ok=True)

    @property
    def config_file(self) -> Path:
        """Write (again) and return the glance-api.conf for this world."""
        path = self.root / "glance-api.conf"
        multi = [name for name in self.stores if name != "legacy"]
        key_line = f"metadata_encryption_key = {self.encryption_key}\n" if self.encryption_key else ""
        sections = "".join(f"\n[{name}]\nfilesystem_store_datadir = {self.stores[name]}\n" for name in multi)
        enabled = [f"{name}:file" for name in multi] + [
            f"{name}:{driver}" for name, driver in self.object_stores.items()
        ]
        path.write_text(
            "[DEFAULT]\n"
            "delayed_delete = True\n"
            f"scrub_time = {self.scrub_time}\n"
            f"{key_line}"
            f"enabled_backends = {', '.join(enabled)}\n\n"
            f"[database]\nconnection = {self.url}\n\n"
            f"[glance_store]\ndefault_backend = fast\nfilesystem_store_datadir = {self.stores['legacy']}\n"
            f"{sections}{self.extra_config}",
            encoding="utf-8",
        )
        return path

    def image(
        self,
        *,
        deleted_ago: timedelta | None = timedelta(days=1),
        stores: Sequence[str | None] = ("fast",),
        name: str = "test-image",
        visibility: str = "private",
        size: int = 4096,
        properties: Mapping[str, str] | None = None,
        tags: Sequence[str] = (),
        members: Sequence[str] = (),
        urls: Sequence[str] | None = None,
        write_files: bool = True,
        image_id: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """Create an image as Glance would (real files), deleted ``deleted_ago`` ago unless None."""
        image_id = image_id or str(uuid.uuid4())
        moment = now or utc_now()
        locations = []
        for index, store in enumerate(stores):
            if urls is not None:
                url = urls[index]
            else:
                path = self.stores[store or "legacy"] / image_id
                url = f"file://{path}"
                if write_files:
                    path.write_bytes(os.urandom(size))
            locations.append(NewLocation(url=url, store=store))
        new = NewImage(
            id=image_id,
            name=name,
            owner=OWNER,
            size=size,
            locations=locations,
            created_at=moment - timedelta(days=30),
            visibility=visibility,
            properties=dict(properties or {}),
            tags=tags,
            members=members,
        )
        with self.engine.begin() as connection:
            create_image(connection, new, self.encryption_key)
            if deleted_ago is not None:
                delete_image(connection, image_id, moment - deleted_ago)
        return image_id

    def delete_from_store(self, image_id: str, store: str, ago: timedelta = timedelta(days=1)) -> int:
        """Mark one store's location of an active image pending_delete, as the stores API does."""
        with self.engine.begin() as connection:
            location_id = connection.execute(
                select(image_locations.c.id).where(
                    image_locations.c.image_id == image_id, image_locations.c.meta_data.contains(f'"{store}"')
                )
            ).scalar_one()
            delete_location_from_store(connection, location_id, utc_now() - ago)
        return int(location_id)

    def delete(self, image_id: str, ago: timedelta = timedelta(days=1)) -> None:
        """Delete an active image with delayed_delete."""
        with self.engine.begin() as connection:
            delete_image(connection, image_id, glance_timestamp() - ago)

    def status(self, image_id: str) -> str:
        """The image's status."""
        with self.engine.connect() as connection:
            return str(connection.execute(select(images.c.status).where(images.c.id == image_id)).scalar_one())

    def location_statuses(self, image_id: str) -> list[str]:
        """The statuses of the image's locations, by id."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(image_locations.c.status)
                .where(image_locations.c.image_id == image_id)
                .order_by(image_locations.c.id)
            )
            return [row[0] for row in rows]

    def data_file(self, image_id: str, store: str | None = "fast") -> Path:
        """The path of an image's file in a store."""
        return self.stores[store or "legacy"] / image_id

    def rows(self, table: str, image_id: str) -> list[dict[str, Any]]:
        """Every row of ``table`` for one image (``images`` by id), ordered by id."""
        key = "id" if table == "images" else "image_id"
        with self.engine.connect() as connection:
            result = connection.execute(text(f"SELECT * FROM {table} WHERE {key} = :id ORDER BY id"), {"id": image_id})
            return [dict(row) for row in result.mappings()]

    def checksum(self) -> str:
        """A digest of every row of every table scrubctl touches, and of every file in the stores."""
        digest = hashlib.sha256()
        with self.engine.connect() as connection:
            for table in REQUIRED_TABLES:
                for row in connection.execute(select(table).order_by(*table.primary_key.columns)):
                    digest.update(repr(tuple(row)).encode())
        for path in sorted(self.root.joinpath("stores").rglob("*")):
            digest.update(str(path).encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def cli(self, *args: str, env: Mapping[str, str] | None = None) -> CliResult:
        """Run scrubctl in this process against this world."""
        return invoke(["--config-file", str(self.config_file), *args], env=env)


def invoke(args: Sequence[str], env: Mapping[str, str] | None = None) -> CliResult:
    """Run scrubctl in-process with the given arguments; capture its output and exit code."""
    saved = {key: os.environ.get(key) for key in (env or {})}
    os.environ.update(env or {})
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = run(list(args))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return CliResult(code, stdout.getvalue(), stderr.getvalue())
