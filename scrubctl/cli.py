"""The ``scrubctl`` root command: global options, command registration, and the one place that
turns errors into a line on stderr and an exit code."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.shell_completion import shell_complete

from scrubctl import __version__, options
from scrubctl.app import Application
from scrubctl.commands import completion
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_SIGINT, EXIT_SIGPIPE, EXIT_USAGE, ScrubctlError
from scrubctl.settings.printable import printable
from scrubctl.unattended.logs import configure_logging, priority_prefix

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

# Each command's module, imported only when the command runs (or is listed, for help and completion):
# a scrub does not pay for importing what orphans or broken need.
COMMAND_MODULES = {
    "broken": "broken",
    "check": "check",
    "completion": "completion",
    "list-pending": "list_pending",
    "orphans": "orphans",
    "restore": "restore",
    "sandbox": "sandbox",
    "scrub": "scrub",
    "show": "show",
    "systemd-units": "systemd_units",
}


class _RootGroup(click.Group):
    """The root group, whose commands are imported on first use and given the global options."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        if cmd_name not in self.commands:
            module = importlib.import_module(f"scrubctl.commands.{module_name}")
            self.add_command(options.add_global_options(module.command), cmd_name)
        return self.commands[cmd_name]


@click.group(
    cls=_RootGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=options.examples(
        ("scrubctl list-pending --due", "what the next scrub would take"),
        ("scrubctl scrub --dry-run", "what it would do; changes nothing"),
        ("scrubctl check --config-file /etc/glance/glance-api.conf", "whether a scrub can run"),
    ),
)
@options.global_options
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
    """Erase the data of Glance images left in pending_delete, safely.

    The global options work before the command and after it (scrubctl check --config-file F).
    Every command has --help with examples; scrubctl completion SHELL sets up Tab completion."""
    app = Application(config_files=config_files, database_url=db_url, verbosity=verbose - quiet, debug=debug)
    configure_logging(app.verbosity, app.mask, debug=app.debug)
    ctx.obj = app
    ctx.call_on_close(app.close)


# Collections of the youngest generation after this many new objects (Python's default: 700). A run
# makes a few objects per row and per image and hardly any cycles; at the default the collector ran
# so often, each time walking every object the plan and the report hold, that it took a fifth of a
# 10,000-image scrub.
YOUNG_COLLECTION_THRESHOLD = 50_000


def _database_errors() -> tuple[type[SQLAlchemyError], ...]:
    """SQLAlchemy's base error class once a command has imported SQLAlchemy, else nothing: ``--help``,
    ``--version`` and completion never import it (a database error cannot happen without it)."""
    errors = sys.modules.get("sqlalchemy.exc")
    return (errors.SQLAlchemyError,) if errors is not None else ()


def main(argv: Sequence[str] | None = None) -> None:
    """Run scrubctl and exit with its documented exit code."""
    gc.freeze()  # what the imports made lives as long as the process: the collector need not walk it
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, 20, 100)
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run scrubctl and return its exit code, reporting any error as one line on stderr."""
    context: click.Context | None = None
    instruction = os.environ.get(completion.COMPLETE_VAR)
    if instruction:  # the shell's completion function asks (scrubctl completion SHELL)
        return shell_complete(scrubctl, {}, "scrubctl", completion.COMPLETE_VAR, instruction)
    try:
        context = scrubctl.make_context("scrubctl", list(sys.argv[1:] if argv is None else argv))
        with context:
            result = scrubctl.invoke(context)
        sys.stdout.flush()  # a reader that has gone is found here, not at interpreter exit
        return int(result or 0)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as ``ls | head`` does.
        _discard_output()
        return EXIT_SIGPIPE
    except click.exceptions.Exit as exit_request:
        return exit_request.exit_code
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.format_message())
        return EXIT_USAGE
    except click.exceptions.Abort:
        _report("aborted", context, interrupted=True)
        return EXIT_SIGINT
    except click.ClickException as error:
        _report(error.format_message(), context)
        return EXIT_USAGE if isinstance(error, click.UsageError) else error.exit_code
    except ScrubctlError as error:
        _report(str(error), context)
        return error.exit_code
    except _database_errors() as error:
        from scrubctl.glance.database import describe_db_error

        _report(f"database error: {describe_db_error(error)}", context)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        _report("interrupted", context, interrupted=True)
        return EXIT_SIGINT
    except Exception as error:  # noqa: BLE001 - the one place unexpected errors are reported
        app = _application(context)
        if app is not None and app.debug:
            traceback.print_exc()
        _report(f"unexpected error: {error.__class__.__name__}: {error} (rerun with --debug for details)", context)
        return EXIT_ENVIRONMENT


def _discard_output() -> None:
    """Point stdout and stderr at /dev/null, so that nothing left in their buffers fails again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # not a file (tests capture output in memory)
            continue
    os.close(devnull)


def _application(context: click.Context | None) -> Application | None:
    app = context.obj if context is not None else None
    return app if isinstance(app, Application) else None


def _report(message: str, context: click.Context | None, *, interrupted: bool = False) -> None:
    """``scrubctl: error: message``: one line, masked and escaped, with its journald priority when
    unattended; on a terminal after Ctrl-C, on a line of its own (not after the ``^C``)."""
    app = _application(context)
    text = app.mask(message) if app is not None else message
    prefix = priority_prefix(logging.ERROR, sys.stderr) or ("\n" if interrupted else "")
    try:
        click.echo(f"{prefix}scrubctl: error: {printable(' '.join(text.split()))}", err=True)
    except BrokenPipeError:  # nobody reads stderr any more: the exit code still tells
        _discard_output()
