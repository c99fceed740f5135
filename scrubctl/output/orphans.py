"""What ``scrubctl orphans`` prints: the listing (its columns and JSON fields) and its totals, the
stores not scanned, what ``--reclaim`` would erase (shown before the question), and the reclaim's
results and summary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import RenderableType

from scrubctl.orphans.model import Orphan, OrphanScan, StoreScan
from scrubctl.orphans.reclaim import ReclaimReport
from scrubctl.output.layout import Fit
from scrubctl.output.plan import condensed_lists, list_budget, taken_and_left_tables
from scrubctl.output.renderer import Renderer, select_columns
from scrubctl.output.views import Column, Lines, human_age, human_duration, human_size

# The URL names the piece: it comes first and the others go under it on a narrow terminal.
PIECE_FITS = (
    Fit("URL", min_width=30, keep=10),
    Fit("Store", min_width=5, max_width=20, no_wrap=True, keep=6),
    Fit("Kind", width=17, keep=5),
    Fit("Size", width=10, keep=8),
)
AGE_FIT = Fit("Age", width=7, keep=7)
RESULT_FITS = (*PIECE_FITS, Fit("Result", width=13, keep=9), Fit("Reason", min_width=24, keep=7))
RESULT_STYLES = {"reclaimed": "green", "would_reclaim": "cyan", "blocked": "yellow", "failed": "red"}
WHY_FIT = Fit("Why", min_width=24, keep=9)


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


def orphans_listing(renderer: Renderer, scan: OrphanScan) -> None:
    """Write the orphans in the renderer's format (the table with the totals by store and kind)."""
    views = [orphan.as_dict() for orphan in scan.orphans]
    if renderer.output_format != "table":
        for view in views:
            view["size"] = view["bytes"]
        renderer.listing([("Orphans", iter(views))], ORPHAN_COLUMNS, ORPHAN_TABLE_COLUMNS)
        return
    chosen = select_columns(ORPHAN_COLUMNS, renderer.wanted_columns, ORPHAN_TABLE_COLUMNS)
    rows = [[column.human(view) for column in chosen] for view in views]
    renderer.table("Orphans", [column.header for column in chosen], rows)
    renderer.table(
        "Totals by store and kind",
        ["Store", "Kind", "Pieces", "Size", "Reclaimable", "Reclaimable size"],
        totals_by_store_and_kind(views),
    )
    scanned = ", ".join(f"{store.label} ({store.pieces} pieces)" for store in scan.stores if store.scanned)
    renderer.message(f"Scanned: {scanned or 'no store'}; {scan.rows_scanned} location rows")


def not_scanned_warnings(renderer: Renderer, stores: Iterable[StoreScan]) -> None:
    """A warning on stderr for each store that was not listed, and why (``orphans`` and ``broken``)."""
    for store in stores:
        if not store.scanned:
            renderer.warning(f"store {store.label} ({store.driver}) not scanned: {store.reason}")


def reclaim_question(plan: Sequence[Orphan]) -> str:
    """The confirmation question: the pieces that would be erased."""
    erasing = [orphan for orphan in plan if orphan.reclaimable]
    return f"Erase {len(erasing)} orphan piece(s) of data ({human_size(_bytes(erasing))})?"


def reclaim_view(plan: Sequence[Orphan], width: int, height: int) -> list[RenderableType]:
    """What ``--reclaim`` would erase and what it leaves alone (and why), for a terminal of ``width``
    x ``height``: one row per piece while they fit, condensed past a screenful as the scrub plan is."""
    erasing = [orphan for orphan in plan if orphan.reclaimable]
    blocked = [orphan for orphan in plan if not orphan.reclaimable]
    budget = list_budget(height)
    if len(erasing) + len(blocked) > budget:
        return condensed_lists(
            (
                f"To erase: {len(erasing)} orphan piece(s) of {human_size(_bytes(erasing))} in all:",
                [orphan.url for orphan in erasing],
                "(orphans --reclaim --dry-run lists every one)",
            ),
            (
                f"Left alone (blocked): {len(blocked)} piece(s):",
                [(orphan.url, "; ".join(orphan.blockers)) for orphan in blocked],
                "blocked",
            ),
            width,
            budget,
        )
    return taken_and_left_tables(
        ("To erase", (*PIECE_FITS, AGE_FIT)),
        [(*_piece(orphan), human_age(orphan.age_seconds)) for orphan in erasing],
        ("Left alone (blocked)", (*PIECE_FITS, WHY_FIT)),
        [(*_piece(orphan), "; ".join(orphan.blockers)) for orphan in blocked],
        width,
    )


def reclaim_report(renderer: Renderer, report: ReclaimReport) -> None:
    """Write a reclaim's results: the JSON document, or a table of pieces and a summary."""
    rows = [(*_piece(piece.orphan), piece.result.value, renderer.mask(piece.reason) or "-") for piece in report.pieces]
    styles = [RESULT_STYLES.get(piece.result.value) for piece in report.pieces]
    renderer.results("Reclaim", report.as_dict(), RESULT_FITS, rows, styles, reclaim_summary(report))


def reclaim_summary(report: ReclaimReport) -> str:
    """One line: how many pieces were reclaimed (or would be), blocked, failed, taken by another run;
    how much data; how long it took."""
    counts = report.summary()
    dry_run = report.dry_run
    verb = "would be reclaimed" if dry_run else "reclaimed"
    parts = [
        f"{counts['would_reclaim'] if dry_run else counts['reclaimed']} {verb}",
        f"{counts['blocked']} blocked",
        f"{counts['failed']} failed",
        f"{counts['taken_by_other_run']} taken by another run",
    ]
    data = human_size(counts["bytes_would_reclaim"] if dry_run else counts["bytes_reclaimed"])
    label = " (dry run; nothing changed)" if dry_run else ""
    return f"Summary{label}: {', '.join(parts)}; {data} of data {verb} in {human_duration(report.duration_seconds)}"


def _piece(orphan: Orphan) -> tuple[str, str, str, str]:
    return orphan.url, orphan.store.label, orphan.kind, human_size(orphan.bytes)


def _bytes(orphans: Sequence[Orphan]) -> int:
    return sum(orphan.bytes or 0 for orphan in orphans)
