"""Click options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from scrubctl.app import Application
from scrubctl.errors import BadInputError
from scrubctl.output import OUTPUT_FORMATS
from scrubctl.settings.ids import parse_image_id
from scrubctl.unattended.logs import configure_logging

F = TypeVar("F", bound=Callable[..., Any])


class AgeType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """``--older-than``: a duration or a UTC timestamp, turned into a cutoff moment."""

    name = "AGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        from scrubctl.settings.ages import parse_age  # dateutil: only when an age is given
        from scrubctl.settings.utc import utc_now

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
EXAMPLE_ID = "6f1c3a8e-5d2b-4c77-9a0e-2b8f0d3c4e51"  # an image id for the examples in --help


def examples(*lines: tuple[str, str]) -> str:
    """A help epilog: example command lines, each with what it does as a shell comment (printed as
    written, so that a line can be copied)."""
    width = max(len(command) for command, _what in lines)
    body = "\n".join(f"  {command.ljust(width)}  # {what}" for command, what in lines)
    return f"\b\nExamples:\n{body}"


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
store = click.option(
    "--store",
    default=None,
    help="Only images with a pending location in this store: a name from enabled_backends, or the driver "
    "(file, rbd) for rows without a store name.",
)
# The largest count an option takes: SQL binds it as a signed 64-bit integer.
LARGEST_COUNT = 2**63 - 1
limit = click.option(
    "--limit", type=click.IntRange(min=1, max=LARGEST_COUNT), default=None, help="At most this many images."
)
dry_run = click.option(
    "-n", "--dry-run", is_flag=True, help="Check everything and change nothing (no row, file or RBD image)."
)
yes = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation on a terminal.")
rbd_clones = click.option(
    "--rbd-clones",
    type=click.Choice(["block", "trash"]),
    default="block",
    show_default=True,
    help="RBD images whose snapshot has clones: block them, or move them to the RBD trash (clone v2).",
)
audit_log = click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Append one JSON line per change to this file, durable before each commit (default: [scrubctl] audit_log).",
)


# The global options, accepted before the command (``scrubctl --config-file F check``) and after it
# (``scrubctl check --config-file F``): operators type both. Declarations, settings, environment variable.
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any], str | None], ...] = (
    (
        ("--config-file", "config_files"),
        {
            "multiple": True,
            "type": click.Path(path_type=Path, dir_okay=False),
            "help": "Glance configuration file (repeatable; later files override earlier ones; env "
            "SCRUBCTL_CONFIG_FILE). Default: /etc/glance/glance-api.conf then /etc/glance/glance-scrubber.conf "
            "when present.",
        },
        "SCRUBCTL_CONFIG_FILE",
    ),
    (
        ("--db-url",),
        {"default": None, "help": "Database URL overriding [database] connection (env SCRUBCTL_DB_URL)."},
        "SCRUBCTL_DB_URL",
    ),
    (("-v", "--verbose"), {"count": True, "help": "More log output (repeatable)."}, None),
    (("-q", "--quiet"), {"count": True, "help": "Less log output (repeatable)."}, None),
    (("--debug",), {"is_flag": True, "help": "Show a traceback for unexpected errors."}, None),
)


def global_options(function: F) -> F:
    """Decorate the root command with the global options (their values go to its callback)."""
    for declarations, settings, envvar in reversed(GLOBAL_OPTIONS):
        function = click.option(*declarations, envvar=envvar, **settings)(function)
    return function


def add_global_options(command: click.Command) -> click.Command:
    """Let ``command`` take the global options after its name too; they update the application the
    root command built (given in both places: files are read in order, the later ``--db-url`` wins,
    ``-v`` and ``-q`` add up). Environment variables are read by the root command only."""
    command.params.extend(
        click.Option(list(declarations), expose_value=False, callback=_after_the_command, **settings)
        for declarations, settings, _envvar in GLOBAL_OPTIONS
    )
    return command


def _after_the_command(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Apply one global option given after the command to the application."""
    app = ctx.find_object(Application)
    if app is None or not value:
        return
    if param.name == "config_files":
        # Like before the command: files given on the command line replace SCRUBCTL_CONFIG_FILE.
        root = ctx.find_root()
        replaces = root.get_parameter_source("config_files") is not ParameterSource.COMMANDLINE
        app.override(config_files=tuple(value) if replaces else app.config_files + tuple(value))
    elif param.name == "db_url":
        app.override(database_url=str(value))
    elif param.name == "verbose":
        app.override(verbosity=app.verbosity + int(value))
    elif param.name == "quiet":
        app.override(verbosity=app.verbosity - int(value))
    elif param.name == "debug":
        app.override(debug=True)
    configure_logging(app.verbosity, app.mask, debug=app.debug)
