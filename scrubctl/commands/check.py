"""``scrubctl check``: configuration, database, stores and outputs, one line per check."""

from __future__ import annotations

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_OK


@click.command(
    "check",
    short_help="Check that a scrub can run: configuration, database, stores.",
    epilog=options.examples(
        ("scrubctl check", "with Glance's own files in /etc/glance"),
        ("scrubctl check --config-file /etc/glance/glance-api.conf", "with the files named"),
        ("scrubctl check && scrubctl scrub --yes", "scrub only when everything is reachable"),
    ),
)
@click.pass_obj
def command(app: Application) -> int:
    """Check that scrub can run: configuration files read, database reachable and a Glance
    schema, every configured store reachable, audit log and metrics file writable.
    Exit 0 only when every check passes (3 otherwise)."""
    from scrubctl.unattended.checks import run_checks

    renderer = app.renderer()
    passed = True
    for check in run_checks(app.config_files, app.database_url, app.registry):
        passed = passed and check.ok
        renderer.check_line(check.name, check.ok, check.detail)
    return EXIT_OK if passed else EXIT_ENVIRONMENT
