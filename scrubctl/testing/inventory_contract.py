"""The contract every store inventory keeps, as pytest tests any inventory reruns in a few lines.

Subclass :class:`InventoryContract` in a test module (its name must start with ``Test``) and provide
these fixtures, against a real store **of its own** (the suite reclaims what it finds reclaimable
there)::

    inventory      a deleter of that store offering the Inventory protocol
    store          its StoreConfig, as a location row naming it resolves (name, driver)
    store_section  the glance-api.conf section that configures it (``[<store.name>]`` and its options)
    make_data      a callable: make_data(image_id) stores new data named by that image id, as Glance
                   would, and returns the location URL Glance writes for it

and, where the store has them::

    url_forms      a callable: url_forms(url) -> the other URLs naming the same data in this store
                   (another spelling, a short form whose store comes from the row)
    foreign_urls   URLs of other stores (of this scheme or another) that name nothing here
    database_url   a Glance database with the real schema (a fresh SQLite file by default)

The store's deleter must be registered for its scheme (built in, or through the
``scrubctl.deleters`` entry points, as a third party does). Every case asserts what an operator would
notice: what the listing holds, which URL needs which piece, what ``scrubctl orphans`` lists as
reclaimable (through the real command), what ``--reclaim`` erased. The suite needs pytest.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from scrubctl.backends.inventory import DATA, Inventory, StoredPiece, last_component
from scrubctl.glance.bootstrap import create_sqlite_database
from scrubctl.glance.writer import NewImage, NewLocation, create_image, delete_image
from scrubctl.settings.config import StoreConfig
from scrubctl.settings.secrets import mask_url
from scrubctl.settings.utc import utc_now

KEY = "0123456789abcdef0123456789abcdef"  # metadata_encryption_key of the rows written encrypted
OTHER_STORES = (  # URLs of stores of other kinds: no inventory of another kind may claim them
    "file:///var/lib/glance/elsewhere/0d7b4f1e-2b9c-4c36-9d0b-6a1f7f0e8a21",
    "rbd://b7f5c5a0-1d0e-4f0b-8f7c-2f2d5c3e4a10/elsewhere/0d7b4f1e-2b9c-4c36-9d0b-6a1f7f0e8a21/snap",
    "swift+https://tenant:key@keystone.elsewhere.example/v3/glance/0d7b4f1e-2b9c-4c36-9d0b-6a1f7f0e8a21",
    "s3://access:secret@s3.elsewhere.example/glance/0d7b4f1e-2b9c-4c36-9d0b-6a1f7f0e8a21",
    "https://images.elsewhere.example/0d7b4f1e-2b9c-4c36-9d0b-6a1f7f0e8a21",
)


def pieces_of(inventory: Inventory, url: str, store: StoreConfig) -> list[StoredPiece]:
    """The listed data pieces a URL needs."""
    keys = set(inventory.location_keys(url, store))
    return [piece for piece in inventory.inventory() if piece.key in keys and piece.area == DATA]


@dataclass
class Glance:
    """A Glance of one store: its database and configuration, and ``scrubctl orphans`` run on it."""

    database_url: str
    store: StoreConfig
    store_section: str
    root: Path
    encryption_key: str | None = None

    def config_file(self) -> Path:
        """Write (again) and return glance-api.conf."""
        path = self.root / "glance-api.conf"
        key = f"metadata_encryption_key = {self.encryption_key}\n" if self.encryption_key else ""
        path.write_text(
            f"[DEFAULT]\nenabled_backends = {self.store.name}:{self.store.driver}\n{key}\n"
            f"[database]\nconnection = {self.database_url}\n\n"
            f"[glance_store]\ndefault_backend = {self.store.name}\n\n{self.store_section}\n",
            encoding="utf-8",
        )
        return path

    def image(self, url: str, *, pending_delete: bool = False, encryption_key: str | None = None) -> str:
        """An image (of a new id) whose one location row, in this store, holds ``url``."""
        image_id = str(uuid.uuid4())
        new = NewImage(
            id=image_id,
            name="contract",
            owner="contract",
            size=1,
            locations=[NewLocation(url=url, store=self.store.name)],
            created_at=utc_now() - timedelta(days=30),
        )
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                create_image(connection, new, encryption_key)
                if pending_delete:
                    delete_image(connection, image_id, utc_now() - timedelta(days=1))
        finally:
            engine.dispose()
        return image_id

    def orphans(self, *args: str) -> Any:
        """``scrubctl orphans -f json --older-than 0s --store <store> ARGS``, run in this process: its JSON."""
        from scrubctl.cli import run

        arguments = ["--config-file", str(self.config_file()), "orphans", "-f", "json", "--older-than", "0s"]
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = run([*arguments, "--store", self.store.label, *args])
        assert code in (0, 1), (code, stdout.getvalue(), stderr.getvalue())
        return json.loads(stdout.getvalue())


def listed_ids(listing: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``scrubctl orphans`` items by the image id their names carry."""
    return {item["image_id"]: item for item in listing if item["image_id"]}


class InventoryContract:
    """The cases every inventory passes; see the module docstring for the fixtures to provide."""

    @pytest.fixture
    def url_forms(self) -> Callable[[str], list[str]]:
        return lambda url: []

    @pytest.fixture
    def foreign_urls(self) -> list[str]:
        return []

    @pytest.fixture
    def database_url(self, tmp_path: Path) -> str:
        path = tmp_path / "contract-glance.sqlite"
        create_sqlite_database(path)
        return f"sqlite:///{path}"

    @pytest.fixture
    def glance(self, database_url: str, store: StoreConfig, store_section: str, tmp_path: Path) -> Glance:
        return Glance(database_url, store, store_section, tmp_path)

    # -- listing and matching, through the protocol ------------------------------------------

    def test_listing_finds_what_was_written(
        self, inventory: Inventory, store: StoreConfig, make_data: Callable[[str], str]
    ) -> None:
        image_id = str(uuid.uuid4())
        url = make_data(image_id)
        found = pieces_of(inventory, url, store)
        assert found, f"no listed piece carries a key of {url}"
        assert any(piece.name == image_id for piece in found)
        for piece in found:
            assert piece.key.startswith(inventory.scope()), (piece.key, inventory.scope())
            examined = inventory.examine(piece)
            assert examined.exists and examined.blockers == ()

    def test_every_url_form_needs_its_piece(
        self,
        inventory: Inventory,
        store: StoreConfig,
        make_data: Callable[[str], str],
        url_forms: Callable[[str], list[str]],
    ) -> None:
        image_id = str(uuid.uuid4())
        url = make_data(image_id)
        piece = next(piece for piece in pieces_of(inventory, url, store) if piece.name == image_id)
        texts = inventory.location_texts(piece)
        assert texts[0] == piece.url
        for form in [url, piece.url, *texts, *url_forms(url)]:
            assert piece.key in inventory.location_keys(form, store), form
            assert inventory.may_name(form, {image_id}), form
            if form.startswith(inventory.named_by_last_component()):
                assert last_component(form) == image_id, form
        other = str(uuid.uuid4())
        assert not inventory.may_name(url.replace(image_id, other), {image_id})

    def test_urls_of_other_stores_need_nothing(
        self, inventory: Inventory, store: StoreConfig, foreign_urls: list[str]
    ) -> None:
        for url in [*foreign_urls, *OTHER_STORES]:
            assert inventory.location_keys(url, store) == (), url
            assert inventory.location_keys(url, None) == (), url

    # -- never a false orphan, through ``scrubctl orphans`` -------------------------------------

    def test_rows_keep_what_they_name(
        self,
        glance: Glance,
        make_data: Callable[[str], str],
        url_forms: Callable[[str], list[str]],
    ) -> None:
        """Data a row of another image names, in any of its URL forms, live or pending_delete, is
        never listed; data no row names is listed, reclaimable."""
        kept = [str(uuid.uuid4())]
        first = make_data(kept[0])
        glance.image(first)
        for index in range(len(url_forms(first))):  # one piece per form, each named by that form only
            kept.append(str(uuid.uuid4()))
            glance.image(url_forms(make_data(kept[-1]))[index])
        pending = str(uuid.uuid4())
        glance.image(make_data(pending), pending_delete=True)
        kept.append(pending)
        orphan = str(uuid.uuid4())
        make_data(orphan)
        listed = listed_ids(glance.orphans())
        assert not set(kept) & set(listed), {image_id: listed[image_id] for image_id in set(kept) & set(listed)}
        assert listed[orphan]["reclaimable"], listed[orphan]

    def test_an_undecryptable_row_makes_nothing_reclaimable(
        self, glance: Glance, make_data: Callable[[str], str]
    ) -> None:
        glance.image(make_data(str(uuid.uuid4())), encryption_key=KEY)  # and no key configured
        orphan = str(uuid.uuid4())
        make_data(orphan)
        listed = listed_ids(glance.orphans())
        assert not any(item["reclaimable"] for item in listed.values())
        assert any("cannot be decrypted" in blocker for blocker in listed[orphan]["blockers"])
        glance.encryption_key = KEY
        assert listed_ids(glance.orphans())[orphan]["reclaimable"]

    def test_reclaim_erases_exactly_the_orphan(
        self, glance: Glance, inventory: Inventory, store: StoreConfig, make_data: Callable[[str], str]
    ) -> None:
        needed_url = make_data(str(uuid.uuid4()))
        glance.image(needed_url)
        orphan_id = str(uuid.uuid4())
        orphan_url = make_data(orphan_id)
        orphan_pieces = pieces_of(inventory, orphan_url, store)
        done = glance.orphans("--reclaim", "--yes")
        results = {item["url"]: item["result"] for item in done["orphans"]}
        for piece in orphan_pieces:
            assert results.get(mask_url(piece.url)) == "reclaimed", (piece, done)
        assert done["summary"]["taken_by_other_run"] == 0
        assert pieces_of(inventory, orphan_url, store) == []
        assert pieces_of(inventory, needed_url, store), "the data a row needs was erased"
        assert not {mask_url(piece.url) for piece in pieces_of(inventory, needed_url, store)} & set(results)
        assert orphan_id not in listed_ids(glance.orphans())
