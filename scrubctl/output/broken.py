"""What ``scrubctl broken`` prints: the listing (its columns and JSON fields), what ``--repair`` would
change (shown before the question), and the repair's results and summary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.console import RenderableType

from scrubctl.broken.model import DELETED_AT_SET, RESTORED_WITHOUT_LOCATIONS, UNLINKED, BrokenImage
from scrubctl.broken.repair import RepairReport, RepairResult, refusal
from scrubctl.output.layout import Fit
from scrubctl.output.plan import condensed_lists, list_budget, taken_and_left_tables
from scrubctl.output.renderer import Renderer, select_columns
from scrubctl.output.views import Column, Lines, human_duration

# What a repair changes for each problem it repairs.
CHANGES = {
    RESTORED_WITHOUT_LOCATIONS: "bring back its locations (or link the data named by its id back), data "
    "verified first, and its properties, tags and members; clear deleted_at",
    UNLINKED: "link the data named by its id back, once its checksums match",
    DELETED_AT_SET: "clear deleted_at",
}
IMAGE_FITS = (
    Fit("ID", width=36, keep=10),
    Fit("Name", min_width=10, max_width=30, no_wrap=True, keep=1),
    Fit("Problem", min_width=26, keep=6),
)
RESULT_FITS = (
    Fit("ID", width=36, keep=10),
    Fit("Problem", min_width=26, keep=6),
    Fit("Result", width=12, keep=9),
    Fit("Locations", width=9, keep=4),
    Fit("Linked", width=6, keep=3),
    Fit("Reason", min_width=24, keep=5),
)


def _text(value: object) -> str:
    return "-" if value is None else str(value)


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
RESULT_STYLES = {RepairResult.REPAIRED: "green", RepairResult.WOULD_REPAIR: "cyan", RepairResult.REFUSED: "yellow"}


def broken_listing(renderer: Renderer, found: Iterable[BrokenImage]) -> None:
    """Write the broken images in the renderer's format."""
    views = [broken.as_dict() for broken in found]
    if renderer.output_format != "table":
        renderer.listing([("Broken images", iter(views))], BROKEN_COLUMNS, BROKEN_TABLE_COLUMNS)
        return
    chosen = select_columns(BROKEN_COLUMNS, renderer.wanted_columns, BROKEN_TABLE_COLUMNS)
    rows = [[column.human(view) for column in chosen] for view in views]
    renderer.table("Broken images", [column.header for column in chosen], rows)


def repairable_count(chosen: Mapping[str, Sequence[BrokenImage]]) -> int:
    """How many of the chosen images a repair would try to make whole."""
    return sum(1 for problems in chosen.values() if refusal(problems) is None)


def repair_question(chosen: Mapping[str, Sequence[BrokenImage]]) -> str:
    """The confirmation question: the images a repair would change."""
    return f"Repair {repairable_count(chosen)} image(s)?"


def repair_view(chosen: Mapping[str, Sequence[BrokenImage]], width: int, height: int) -> list[RenderableType]:
    """What ``--repair`` would change and what it leaves alone (and why), for a terminal of ``width``
    x ``height``: one row per image while they fit, condensed past a screenful as the scrub plan is."""
    repairing = [(image_id, problems) for image_id, problems in chosen.items() if refusal(problems) is None]
    refused = [(image_id, problems, refusal(problems) or "") for image_id, problems in chosen.items()]
    refused = [item for item in refused if item[2]]
    budget = list_budget(height)
    if len(repairing) + len(refused) > budget:
        return condensed_lists(
            (
                f"To repair: {len(repairing)} image(s):",
                [_name(image_id, problems) for image_id, problems in repairing],
                "(broken --repair --dry-run lists every one)",
            ),
            (
                f"Left alone (refused): {len(refused)} image(s):",
                [(_label(image_id, problems), why) for image_id, problems, why in refused],
                "refused",
            ),
            width,
            budget,
        )
    return taken_and_left_tables(
        ("To repair", (*IMAGE_FITS, Fit("Change", min_width=24, keep=5))),
        [(*_image(image_id, problems), _changes(problems)) for image_id, problems in repairing],
        ("Left alone (refused)", (*IMAGE_FITS, Fit("Why", min_width=24, keep=9))),
        [(*_image(image_id, problems), why) for image_id, problems, why in refused],
        width,
    )


def repair_report(renderer: Renderer, report: RepairReport) -> None:
    """Write a repair's results: the JSON document, or a table of images and a summary."""
    rows = [
        (
            image.id,
            image.problem,
            image.result.value,
            str(image.locations_restored),
            str(image.locations_linked),
            renderer.mask(image.reason) or "-",
        )
        for image in report.images
    ]
    styles = [RESULT_STYLES.get(image.result) for image in report.images]
    renderer.results("Repair", report.as_dict(), RESULT_FITS, rows, styles, repair_summary(report))


def repair_summary(report: RepairReport) -> str:
    """One line: how many images were repaired (or would be) and refused, and how long it took."""
    if report.dry_run:
        done = f"{report.count(RepairResult.WOULD_REPAIR)} would be repaired"
    else:
        done = f"{report.count(RepairResult.REPAIRED)} repaired"
    label = " (dry run; nothing changed)" if report.dry_run else ""
    refused = report.count(RepairResult.REFUSED)
    return f"Summary{label}: {done}, {refused} refused in {human_duration(report.duration_seconds)}"


def _image(image_id: str, problems: Sequence[BrokenImage]) -> tuple[str, str, str]:
    name = next((item.name for item in problems if item.name), None)
    return image_id, name or "-", ", ".join(item.problem for item in problems) or "-"


def _name(image_id: str, problems: Sequence[BrokenImage]) -> str:
    return next((item.name for item in problems if item.name), None) or image_id


def _label(image_id: str, problems: Sequence[BrokenImage]) -> str:
    name = next((item.name for item in problems if item.name), None)
    return f"{image_id} {name or ''}".rstrip()


def _changes(problems: Sequence[BrokenImage]) -> str:
    return "; ".join(dict.fromkeys(CHANGES.get(item.problem, item.detail) for item in problems))
