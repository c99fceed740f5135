"""The ``scrubctl`` root command: global options, command registration, and the one place that
turns errors into a line on stderr and an exit code."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from scrubctl import __version__
from scrubctl.app import Application
from scrubctl.commands import broken as broken_command
from scrubctl.commands import check, list_pending, restore, sandbox, scrub, show, systemd_units
from scrubctl.commands import orphans as orphans_command
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_SIGINT, EXIT_USAGE, ScrubctlError
from scrubctl.glance.database import describe_db_error
from scrubctl.unattended.logs import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config-file",
    "config_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="SCRUBCTL_CONFIG_FILE",
    help="Glance configuration file (repeatable; later files override earlier ones). "
    "Default: /etc/glance/glance-api.conf then /etc/glance/glance-scrubber.conf when present.",
)
@click.option(
    "--db-url",
    envvar="SCRUBCTL_DB_URL",
    default=None,
    help="Database URL overriding [database] connection (env SCRUBCTL_DB_URL).",
)
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less log output (repeatable).")
@click.option("--debug", is_flag=True, help="Show a traceback for unexpected errors.")
@click.version_option(__version__, prog_name="scrubctl")
@click.pass_context
def scrubctl(
    ctx: click.Context,
    config_files: tuple[Path, ...],
    db_url: str | None,
    verbose: int,
    quiet: int,
    debug: bool,
) -> None:
    """Erase the data of Glance images left in pending_delete, safely."""
    app = Application(config_files=config_files, database_url=db_url, verbosity=verbose - quiet, debug=debug)
    configure_logging(app.verbosity, app.mask)
    ctx.obj = app
    ctx.call_on_close(app.close)


scrubctl.add_command(list_pending.command)
scrubctl.add_command(show.command)
scrubctl.add_command(scrub.command)
scrubctl.add_command(check.command)
scrubctl.add_command(systemd_units.command)
scrubctl.add_command(sandbox.command)
scrubctl.add_command(restore.command)
scrubctl.add_command(orphans_command.command)
scrubctl.add_command(broken_command.command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run scrubctl and exit with its documented exit code."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run scrubctl and return its exit code, reporting any error as one line on stderr."""
    context: click.Context | None = None
    try:
        context = scrubctl.make_context("scrubctl", list(sys.argv[1:] if argv is None else argv))
        with context:
            result = scrubctl.invoke(context)
        return int(result or 0)
    except click.exceptions.Exit as exit_request:
        return exit_request.exit_code
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.format_message())
        return EXIT_USAGE
    except click.exceptions.Abort:
        _report("aborted", context)
        return EXIT_SIGINT
    except click.ClickException as error:
        _report(error.format_message(), context)
        return EXIT_USAGE if isinstance(error, click.UsageError) else error.exit_code
    except ScrubctlError as error:
        _report(str(error), context)
        return error.exit_code
    except SQLAlchemyError as error:
        _report(f"database error: {describe_db_error(error)}", context)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        _report("interrupted", context)
        return EXIT_SIGINT
    except Exception as error:  # noqa: BLE001 - the one place unexpected errors are reported
        app = _application(context)
        if app is not None and app.debug:
            traceback.print_exc()
        _report(f"unexpected error: {error.__class__.__name__}: {error} (rerun with --debug for details)", context)
        return EXIT_ENVIRONMENT


def _application(context: click.Context | None) -> Application | None:
    app = context.obj if context is not None else None
    return app if isinstance(app, Application) else None


def _report(message: str, context: click.Context | None) -> None:
    app = _application(context)
    text = app.mask(message) if app is not None else message
    click.echo(f"scrubctl: error: {' '.join(text.split())}", err=True)
