"""What ``scrubctl list-pending`` prints: the pending images, section by section, streamed in the
chosen format, the table's columns laid out to the terminal's width."""

from __future__ import annotations

from collections.abc import Iterable

from scrubctl.glance.pending import ImageEntry
from scrubctl.output.layout import Fit
from scrubctl.output.renderer import Renderer
from scrubctl.output.views import DEFAULT_TABLE_COLUMNS, PENDING_COLUMNS, image_view

# How list-pending's columns are laid out. Fixed widths keep the columns of a streamed table aligned
# from one chunk to the next. Compact locations (``archive:<image id>``) never wrap: one line per
# location, so one image per line on a 160-column terminal; reasons take what is left and wrap. On a
# narrower terminal the locations, then the name, then the other columns that decide nothing go under
# the id; the size, age, due and blockers stay (``keep``).
PENDING_FITS = {
    "id": Fit("ID", width=36, keep=10),
    "name": Fit("Name", min_width=10, max_width=20, no_wrap=True, keep=1),
    "owner": Fit("Owner", width=32, keep=2),
    "size": Fit("Size", width=10, keep=9),
    "status": Fit("Status", width=14, keep=5),
    "visibility": Fit("Visibility", width=10, keep=3),
    "deleted_at": Fit("Deleted at", width=20, keep=3),
    "age_seconds": Fit("Age", width=7, keep=9),
    "due": Fit("Due", width=3, keep=9),
    "pending": Fit("Pending", width=9, keep=4),
    "stores": Fit("Stores", min_width=8, no_wrap=True, keep=2),
    "locations": Fit("Locations", min_width=44, max_width=60, no_wrap=True, keep=0, label=False),
    "blockers": Fit("Blocked by", min_width=24, keep=8),
}


def pending_listing(renderer: Renderer, sections: Iterable[tuple[str, Iterable[ImageEntry]]]) -> tuple[int, int]:
    """Write the pending images of each titled section; return ``(images, total bytes)``."""
    views = ((title, map(image_view, entries)) for title, entries in sections)
    return renderer.listing(views, PENDING_COLUMNS, DEFAULT_TABLE_COLUMNS, PENDING_FITS)
