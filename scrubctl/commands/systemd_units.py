"""``scrubctl systemd-units``: the service and timer units adapted to this install."""

from __future__ import annotations

from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.unattended.systemd_units import UnitOptions, service_unit, this_executable, timer_unit, writable_paths


@click.command(
    "systemd-units",
    short_help="Print the systemd service and timer units for this install.",
    epilog=options.examples(
        ("scrubctl systemd-units", "print both units"),
        ("scrubctl systemd-units --on-calendar daily --output-dir /etc/systemd/system", "install a daily timer"),
    ),
)
@click.option("--user", default="glance", show_default=True, help="User (and group) the service runs as.")
@click.option("--on-calendar", default="hourly", show_default=True, help="When the timer fires (systemd.time).")
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write scrubctl.service and scrubctl.timer here instead of printing them.",
)
@click.pass_obj
def command(app: Application, user: str, on_calendar: str, output_dir: Path | None) -> int:
    """Print scrubctl.service and scrubctl.timer for this install: this scrubctl executable, the
    configuration files in use, and write access to the stores' data directories only."""
    settings = app.settings
    unit_options = UnitOptions(
        executable=this_executable(),
        config_files=[path.resolve() for path in settings.config_files],
        writable_paths=writable_paths(settings),
        user=user,
        on_calendar=on_calendar,
    )
    units = {"scrubctl.service": service_unit(unit_options), "scrubctl.timer": timer_unit(unit_options)}
    renderer = app.renderer()
    for name, text in units.items():
        if output_dir is None:
            renderer.raw(f"# /etc/systemd/system/{name}\n{text}\n")
        else:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / name).write_text(text, encoding="utf-8")
            renderer.message(f"wrote {output_dir / name}")
    return 0
