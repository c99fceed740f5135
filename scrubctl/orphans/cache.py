"""Copies in Glance's image cache on this node that no usable image needs.

Glance caches an image on the glance-api node that served it (``[DEFAULT] image_cache_dir``), and
deleting the image removes the copy (and its ``cached_images`` row) only on the node that served the
DELETE: on every other node the data a tenant deleted stays until an LRU prune. This scan runs **per
node**: it lists the cache directory of the node it runs on, and that node's rows (the node is its
``worker_self_reference_url``, looked up in ``node_reference``). Run it on every glance-api node.

Listed (kind ``cache``): a copy ``<image_cache_dir>/<id>`` whose image is ``deleted``,
``pending_delete``, ``killed`` or has no row at all (reclaimable once older than the age threshold),
or that no ``cached_images`` row of this node names (a copy of a usable image: never reclaimed); a file
of ``incomplete/``, ``invalid/`` (failed caching) or ``queue/`` (images waiting to be cached) whose
image is gone that way (reclaimable), or, for ``incomplete/`` and ``invalid/``, older than the
threshold while its image is usable (left to glance-api's own cache cleaner). Reclaiming removes the
file and this node's ``cached_images`` row of it; never a copy of an image that is still usable (the
image's status is read again inside the claim).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from scrubctl.backends.inventory import StoredPiece
from scrubctl.glance.image_cache import cached_ids, has_cache_tables, node_id
from scrubctl.orphans.cache_files import CacheInventory
from scrubctl.orphans.model import CACHE_KIND, UNPROTECTED_BY_ID, Orphan
from scrubctl.orphans.rows import named_image_id
from scrubctl.orphans.stores import AgeThreshold, ScannedStore


def judge_cache(
    connection: Connection,
    entries: Sequence[tuple[ScannedStore, StoredPiece]],
    statuses: dict[str, str],
    ages: AgeThreshold,
) -> list[Orphan]:
    """The orphans among this node's cached files (see the module docstring)."""
    if not entries:
        return []
    scanned = entries[0][0]
    inventory = scanned.inventory
    if not isinstance(inventory, CacheInventory):
        return []
    node = None
    if inventory.node_url and has_cache_tables(connection):
        node = node_id(connection, inventory.node_url)
    inventory.node, inventory.engine = node, connection.engine
    copies = [named_image_id(piece) for _scanned, piece in entries if not piece.trash_id]
    recorded = cached_ids(connection, node, [image_id for image_id in copies if image_id]) if node else set()
    found: list[Orphan] = []
    for _scanned, piece in entries:
        orphan = _judge_file(scanned, piece, statuses, recorded, node, ages)
        if orphan is not None:
            found.append(orphan)
    return found


def _judge_file(
    scanned: ScannedStore,
    piece: StoredPiece,
    statuses: dict[str, str],
    recorded: set[str],
    node: int | None,
    ages: AgeThreshold,
) -> Orphan | None:
    image_id = named_image_id(piece)
    status = statuses.get(image_id) if image_id else None
    usable = status is not None and status not in UNPROTECTED_BY_ID
    examined = scanned.inventory.examine(piece)
    if not examined.exists:
        return None
    moment = examined.last_written
    too_young = ages.too_young(moment)
    blockers = list(examined.blockers)
    if image_id is None:
        blockers.append("its name is not a Glance image id: Glance's cache did not write it")
    elif usable:
        if piece.trash_id == "queue" or (piece.trash_id and too_young):
            return None  # waiting to be cached, or being cached now
        if not piece.trash_id and (node is None or image_id in recorded):
            return None  # a copy this node's rows name (or, no node known, any copy of a usable image)
        what = "a copy of" if not piece.trash_id else f"a leftover in {piece.trash_id}/ of"
        blockers.append(f"{what} image {image_id}, which is {status}: never reclaimed")
    too_young_because = ages.blocker(moment, unknown="its age is unknown")
    if too_young_because is not None:
        blockers.append(too_young_because)
    return scanned.orphan(piece, examined, image_id=image_id, kind=CACHE_KIND, ages=ages, blockers=blockers)
