"""Plain views of ``orphans`` and ``broken``: their columns, JSON fields and totals (no rich here)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scrubctl.output.views import Column, Lines, human_age, human_size


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


ORPHAN_COLUMNS = (
    Column("store", "Store", lambda view: view["store"], lambda view: view["store"]),
    Column("scheme", "Scheme", lambda view: view["scheme"], lambda view: view["scheme"]),
    Column("url", "URL", lambda view: view["url"], lambda view: view["url"]),
    Column("image_id", "Image id", lambda view: view["image_id"], lambda view: _text(view["image_id"])),
    Column("bytes", "Size", lambda view: view["bytes"], lambda view: human_size(view["bytes"])),
    Column("created_at", "Created", lambda view: view["created_at"], lambda view: _text(view["created_at"])),
    Column("age_seconds", "Age", lambda view: view["age_seconds"], lambda view: human_age(view["age_seconds"])),
    Column("kind", "Kind", lambda view: view["kind"], lambda view: view["kind"]),
    Column(
        "reclaimable", "Reclaim", lambda view: view["reclaimable"], lambda view: "yes" if view["reclaimable"] else "no"
    ),
    Column("blockers", "Blocked by", lambda view: view["blockers"], lambda view: Lines(view["blockers"]) or "-"),
)
ORPHAN_TABLE_COLUMNS = ("store", "url", "bytes", "age_seconds", "kind", "reclaimable", "blockers")


def totals_by_store_and_kind(views: Iterable[dict[str, Any]]) -> list[tuple[str, str, int, str, int, str]]:
    """``(store, kind, count, size, reclaimable count, reclaimable size)`` rows, sorted."""
    totals: dict[tuple[str, str], list[int]] = {}
    for view in views:
        entry = totals.setdefault((view["store"], view["kind"]), [0, 0, 0, 0])
        entry[0] += 1
        entry[1] += view["bytes"] or 0
        if view["reclaimable"]:
            entry[2] += 1
            entry[3] += view["bytes"] or 0
    return [
        (store, kind, count, human_size(size), reclaim, human_size(reclaim_size))
        for (store, kind), (count, size, reclaim, reclaim_size) in sorted(totals.items())
    ]


BROKEN_COLUMNS = (
    Column("id", "ID", lambda view: view["id"], lambda view: view["id"]),
    Column("name", "Name", lambda view: view["name"], lambda view: _text(view["name"])),
    Column("status", "Status", lambda view: view["status"], lambda view: view["status"]),
    Column("problem", "Problem", lambda view: view["problem"], lambda view: view["problem"]),
    Column("detail", "Detail", lambda view: view["detail"], lambda view: view["detail"]),
    Column("repairable", "Repair", lambda view: view["repairable"], lambda view: "yes" if view["repairable"] else "no"),
    Column(
        "locations",
        "Locations",
        lambda view: view["locations"],
        lambda view: Lines(f"{item['url']} ({item['state']})" for item in view["locations"]) or "-",
    ),
)
BROKEN_TABLE_COLUMNS = ("id", "name", "status", "problem", "repairable", "detail")
