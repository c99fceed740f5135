"""``scrubctl check``: configuration, database, stores and outputs, one line per check."""

from __future__ import annotations

from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.errors import EXIT_ENVIRONMENT, EXIT_OK


@click.command(
    "check",
    short_help="Check that a scrub can run: configuration, database, stores.",
    epilog=options.examples(
        ("scrubctl check", "with Glance's own files in /etc/glance"),
        ("scrubctl check && scrubctl scrub --yes", "scrub only when everything is reachable"),
        ("scrubctl check --audit-log /var/log/scrubctl/audit.jsonl", "and the audit log scrub will be given"),
    ),
)
@click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Check this audit log, the one scrub will be given, instead of [scrubctl] audit_log.",
)
@click.option(
    "--metrics-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Check this metrics file, the one scrub will be given, instead of [scrubctl] metrics_file.",
)
@click.pass_obj
def command(app: Application, audit_log: Path | None, metrics_file: Path | None) -> int:
    """Check that scrub can run, changing nothing: configuration files read, database reachable
    with a Glance schema, the database user allowed to write what scrub writes (its claims table
    included), every configured store reachable within its timeout, audit log and metrics file
    writable. Exit 0 only when every check passes (3 otherwise)."""
    from scrubctl.unattended.checks import run_checks

    renderer = app.renderer()
    passed = True
    checks = run_checks(
        app.config_files, app.database_url, app.registry, audit_log=audit_log, metrics_file=metrics_file
    )
    for check in checks:
        passed = passed and check.ok
        renderer.check_line(check.name, check.ok, check.detail)
    return EXIT_OK if passed else EXIT_ENVIRONMENT
