"""``scrubctl sandbox DIR``: create a self-contained Glance world to try scrubctl on."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application


@click.command(
    "sandbox",
    short_help="Create a self-contained Glance world to try scrubctl on.",
    epilog=options.examples(
        ("scrubctl sandbox /tmp/glance-sandbox", "create it; it prints the commands to try"),
        (
            "scrubctl list-pending --config-file /tmp/glance-sandbox/glance-api.conf",
            "then use it as a Glance node's files",
        ),
    ),
)
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.pass_obj
def command(app: Application, directory: Path) -> int:
    """Create DIR with a SQLite Glance database (real schema), file stores with real data files,
    and a glance-api.conf pointing at both, then print the commands to try."""
    from scrubctl.sandbox.builder import create_sandbox

    sandbox = create_sandbox(directory)
    renderer = app.renderer()
    prefix = f"scrubctl --config-file {shlex.quote(str(sandbox.config_file))}"
    lines = [
        f"Sandbox created in {sandbox.directory}: {len(sandbox.pending_ids)} pending_delete images, "
        "active and protected images, three data directories of file stores.",
        "Try:",
        f"  {prefix} list-pending",
        f"  {prefix} list-pending --due -f json",
        f"  {prefix} show {sandbox.pending_ids[2]}",
        f"  {prefix} scrub --dry-run",
        f"  {prefix} scrub --yes",
        f"  {prefix} restore {sandbox.pending_ids[0]}",
        f"Or set SCRUBCTL_CONFIG_FILE={shlex.quote(str(sandbox.config_file))} and drop --config-file.",
    ]
    for line in lines:
        renderer.message(line)
    return 0
