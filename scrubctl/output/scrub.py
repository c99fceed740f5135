"""What ``scrubctl scrub`` prints: the plan's summary line, the plan shown before the question, the
progress of the run, and its results (a table and a summary, or the JSON document)."""

from __future__ import annotations

import json
import logging

from rich.text import Text

from scrubctl.engine.model import Plan, Report, Summary
from scrubctl.output.plan import erase_question, plan_view
from scrubctl.output.progress import LiveScrubProgress, LoggedScrubProgress
from scrubctl.output.renderer import JSON_WRITE_BATCH, TABLE_CHUNK_ROWS, Renderer
from scrubctl.output.results import results_view
from scrubctl.output.views import human_duration, human_size
from scrubctl.unattended.logs import DEFAULT_PROGRESS_INTERVAL, is_journal

logger = logging.getLogger("scrubctl.scrub")


def plan_summary(renderer: Renderer, plan: Plan, dry_run: bool) -> None:
    """Describe the plan on stderr before anything is done."""
    label = " (dry run; not making any changes)" if dry_run else ""
    line = (
        f"Plan: {plan.to_scrub_count} image(s) to scrub, {plan.blocked_count} blocked, "
        f"{len(plan.missing)} named but not in the queue; {human_size(plan.bytes_to_erase)} of data to erase{label}"
    )
    if renderer.interactive:
        renderer.err.print(Text(line))
    else:
        logger.info("%s", line)


def confirm_plan(renderer: Renderer, plan: Plan) -> bool:
    """Show what the plan would erase (and leave alone, and why), then ask about exactly that."""
    return renderer.confirm_shown(lambda width, height: plan_view(plan, width, height), erase_question(plan))


def scrub_progress(
    renderer: Renderer, plan: Plan, dry_run: bool, interval: float = DEFAULT_PROGRESS_INTERVAL
) -> LiveScrubProgress | LoggedScrubProgress:
    """The progress observer for a run: live on a terminal, otherwise one log line per image and
    one every ``interval`` seconds of a long erase."""
    if renderer.interactive:
        return LiveScrubProgress(renderer.err, len(plan.images), dry_run, plan.bytes_to_erase)
    return LoggedScrubProgress(dry_run, interval)


def scrub_report(renderer: Renderer, report: Report) -> None:
    """Write a run's results: the JSON document, or a table of images and a summary; then a
    line on stderr for each store or database found unreachable. Into the journal, the summary is
    one log line with its priority: the images have their lines already. Once the work is done,
    a reader that has gone changes nothing (the command keeps its exit code)."""
    with renderer.work_done():
        _results(renderer, report)


def _results(renderer: Renderer, report: Report) -> None:
    if renderer.output_format == "json":
        _json_report(renderer, report)
        renderer.unreachable(report.summary.unreachable)
        return
    summary = report.summary
    journal = is_journal(renderer.stdout)
    out = renderer.out
    if report.images and not journal and (out.is_terminal or len(report.images) <= TABLE_CHUNK_ROWS):
        height = out.size.height if out.is_terminal else None
        for part in results_view(report, out.width, height, renderer.mask):
            out.print(part)
    line = summary_line(summary)
    if journal:
        failed = summary.failed or summary.unreachable or summary.not_started or summary.not_found
        warned = summary.blocked or summary.interrupted
        logger.log(logging.ERROR if failed else logging.WARNING if warned else logging.INFO, "%s", line)
        for problem in summary.unreachable:
            logger.error("unreachable: %s", problem)
        return
    out.print(Text(line))
    renderer.unreachable(summary.unreachable)


def summary_line(summary: Summary) -> str:
    """One line: how many images were scrubbed (or would be), blocked, failed, taken by another run,
    not started; how much data; how long it took."""
    label = " (dry run; nothing changed)" if summary.dry_run else ""
    erased = summary.bytes_would_erase if summary.dry_run else summary.bytes_erased
    parts = [
        f"{summary.would_scrub if summary.dry_run else summary.scrubbed} "
        f"{'would be scrubbed' if summary.dry_run else 'scrubbed'}",
        f"{summary.blocked} blocked",
        f"{summary.failed} failed",
        f"{summary.taken_by_other_run} taken by another run",
    ]
    if summary.not_started:
        parts.append(f"{summary.not_started} not started")
    if summary.interrupted:
        parts.append("interrupted")
    erasing = f"{human_size(erased)} of data {'would be erased' if summary.dry_run else 'erased'}"
    if summary.locations_already_gone:
        erasing += f" ({summary.locations_already_gone} location(s) already gone)"
    took = human_duration(summary.duration_seconds)
    return f"Summary{label}: " + ", ".join(parts) + f"; {erasing} in {took}"


def _json_report(renderer: Renderer, report: Report) -> None:
    """``{"summary": ..., "images": [...]}`` as ``json.dumps`` writes it, written and masked image
    by image (no document of every result is built in memory)."""
    encode = json.JSONEncoder().encode
    parts = [renderer.mask(f'{{"summary": {encode(report.summary.as_dict())}, "images": [')]
    for index, image in enumerate(report.images):
        parts.append((", " if index else "") + renderer.mask(encode(image.as_dict())))
        if len(parts) >= JSON_WRITE_BATCH:
            renderer.stdout.write("".join(parts))
            parts.clear()
    parts.append("]}\n")
    renderer.stdout.write("".join(parts))
    renderer.stdout.flush()
