"""What ``scrubctl orphans`` prints: the listing and its totals, what ``--reclaim`` would erase
(shown before the question), and the reclaim's results and summary."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType

from scrubctl.orphans.model import Orphan, OrphanScan
from scrubctl.orphans.reclaim import ReclaimReport
from scrubctl.output.layout import Fit, fitted_table
from scrubctl.output.orphan_views import ORPHAN_COLUMNS, ORPHAN_TABLE_COLUMNS, totals_by_store_and_kind
from scrubctl.output.plan import condensed_lists, list_budget
from scrubctl.output.renderer import Renderer, plain_table, select_columns
from scrubctl.output.views import human_age, human_duration, human_size

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
    plain_table(renderer, "Orphans", [column.header for column in chosen], rows)
    plain_table(
        renderer,
        "Totals by store and kind",
        ["Store", "Kind", "Pieces", "Size", "Reclaimable", "Reclaimable size"],
        totals_by_store_and_kind(views),
    )
    scanned = ", ".join(f"{store.label} ({store.pieces} pieces)" for store in scan.stores if store.scanned)
    renderer.message(f"Scanned: {scanned or 'no store'}; {scan.rows_scanned} location rows")


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
    parts: list[RenderableType] = []
    if erasing:
        rows = [(*_piece(orphan), human_age(orphan.age_seconds)) for orphan in erasing]
        parts.append(fitted_table((*PIECE_FITS, AGE_FIT), rows, width, title="To erase"))
    if blocked:
        rows = [(*_piece(orphan), "; ".join(orphan.blockers)) for orphan in blocked]
        styles = ["yellow"] * len(rows)
        parts.append(fitted_table((*PIECE_FITS, WHY_FIT), rows, width, title="Left alone (blocked)", styles=styles))
    return parts


def reclaim_report(renderer: Renderer, report: ReclaimReport) -> None:
    """Write a reclaim's results: the JSON document, or a table of pieces and a summary."""
    document = report.as_dict()
    if renderer.output_format == "json":
        renderer.details("Reclaim", [], [], document)
        return
    rows = [(*_piece(piece.orphan), piece.result.value, renderer.mask(piece.reason) or "-") for piece in report.pieces]
    styles = [RESULT_STYLES.get(piece.result.value) for piece in report.pieces]
    renderer.out.print(fitted_table(RESULT_FITS, rows, renderer.out.width, title="Reclaim", styles=styles))
    renderer.message(reclaim_summary(report))
    renderer.unreachable(sorted(report.unreachable))


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
