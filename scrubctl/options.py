"""Click options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from scrubctl.errors import BadInputError
from scrubctl.output.renderer import OUTPUT_FORMATS
from scrubctl.settings.ages import parse_age
from scrubctl.settings.ids import parse_image_id
from scrubctl.settings.utc import utc_now

F = TypeVar("F", bound=Callable[..., Any])


class AgeType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """``--older-than``: a duration or a UTC timestamp, turned into a cutoff moment."""

    name = "AGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_age(str(value), utc_now())
        except BadInputError as error:
            self.fail(str(error), param, ctx)


class ImageIdType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """An image id: a UUID."""

    name = "IMAGE_ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return parse_image_id(str(value))
        except BadInputError as error:
            self.fail(str(error), param, ctx)


AGE = AgeType()
IMAGE_ID = ImageIdType()


def output_options(formats: tuple[str, ...] = OUTPUT_FORMATS, columns: bool = True) -> Callable[[F], F]:
    """``-f/--format`` and (for listings) repeatable ``-c/--column``, as the openstack client has them."""

    def decorate(function: F) -> F:
        if columns:
            function = click.option(
                "-c",
                "--column",
                "columns",
                multiple=True,
                metavar="COLUMN",
                help="Show only this column (repeatable).",
            )(function)
        return click.option(
            "-f",
            "--format",
            "output_format",
            type=click.Choice(formats),
            default="table",
            show_default=True,
            help="Output format.",
        )(function)

    return decorate


older_than = click.option(
    "--older-than",
    type=AGE,
    default=None,
    help="Only images deleted before this age: 90s, 30m, 12h, 7d, 2w, 1d12h, P7D, PT36H, or a UTC "
    "timestamp such as 2026-11-01T08:00:00Z.",
)
owner = click.option("--owner", default=None, help="Only images of this project id.")
store = click.option("--store", default=None, help="Only images with a pending location in this store.")
limit = click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many images.")
dry_run = click.option(
    "-n", "--dry-run", is_flag=True, help="Check everything and change nothing (no row, file or RBD image)."
)
audit_log = click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Append one JSON line per change to this file, durable before each commit (default: [scrubctl] audit_log).",
)
