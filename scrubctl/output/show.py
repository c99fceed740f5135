"""What ``scrubctl show`` prints: one queued image, its locations and what blocks them, its
properties, tags and members."""

from __future__ import annotations

from typing import Any

from scrubctl.glance.image_details import ImageDetails
from scrubctl.output.renderer import Renderer
from scrubctl.output.views import human_age, human_size, location_view
from scrubctl.settings.utc import iso_utc


def show_image(renderer: Renderer, details: ImageDetails, blockers: dict[int, list[str]]) -> None:
    """Write one image in the renderer's format: fields and tables, a JSON object, or ``key value``
    lines (the locations, properties, tags and members too)."""
    image = details.image
    properties = [_child(row, "name", "value") for row in details.properties]
    tags = [_child(row, "value") for row in details.tags]
    members = [_child(row, "member", "status") for row in details.members]
    document = {
        **{key: iso_utc(value) if key.endswith("_at") else value for key, value in image.items()},
        "age_seconds": None if details.age_seconds is None else int(details.age_seconds),
        "due": details.due,
        "locations": [
            {**location_view(location), "blockers": blockers.get(location.id, [])} for location in details.locations
        ],
        "properties": properties,
        "tags": tags,
        "members": members,
    }
    fields = [
        (key, value) for key, value in document.items() if key not in ("locations", "properties", "tags", "members")
    ]
    fields += [("size_human", human_size(image["size"])), ("age_human", human_age(details.age_seconds))]
    location_rows = [
        (
            location.id,
            location.status,
            location.store_label,
            location.scheme,
            location.shown_url,
            "; ".join(filter(None, [location.problem, *blockers.get(location.id, [])])) or "-",
        )
        for location in details.locations
    ]
    child_rows = [
        *(("property", row["name"], row["value"], row["deleted"], row["deleted_at"]) for row in properties),
        *(("tag", row["value"], "", row["deleted"], row["deleted_at"]) for row in tags),
        *(("member", row["member"], row["status"], row["deleted"], row["deleted_at"]) for row in members),
    ]
    renderer.details(
        f"Image {image['id']}",
        fields,
        [
            ("Locations", ("ID", "Status", "Store", "Scheme", "URL", "Blocked by"), location_rows),
            ("Properties, tags and members", ("Kind", "Name", "Value", "Deleted", "Deleted at"), child_rows),
        ],
        document,
    )


def _child(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {
        **{key: row[key] for key in keys},
        "deleted": bool(row["deleted"]),
        "deleted_at": iso_utc(row["deleted_at"]),
    }
