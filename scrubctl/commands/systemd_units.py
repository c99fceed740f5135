"""``scrubctl systemd-units``: the service and timer units adapted to this install."""

from __future__ import annotations

from pathlib import Path

import click

from scrubctl import options
from scrubctl.app import Application
from scrubctl.unattended.unit_values import CONTAINER_ENGINES, DEFAULT_TIMEOUT_START


@click.command(
    "systemd-units",
    short_help="Print the systemd service and timer units for this install.",
    epilog=options.examples(
        ("scrubctl systemd-units", "print both units"),
        ("scrubctl systemd-units --on-calendar daily --output-dir /etc/systemd/system", "install a daily timer"),
        ("scrubctl systemd-units --container localhost/scrubctl:latest", "a kolla-ansible controller's units"),
    ),
)
@click.option("--user", default="glance", show_default=True, help="User the service runs as.")
@click.option("--group", default=None, help="Group the service runs as (default: the user's name).")
@click.option(
    "--container",
    "image",
    metavar="IMAGE",
    default=None,
    help="Units that run this container image on a kolla-ansible controller, with kolla's files "
    "mounted read-only (as deploy/kolla/), instead of this install.",
)
@click.option(
    "--engine",
    type=click.Choice(sorted(CONTAINER_ENGINES)),
    default="podman",
    show_default=True,
    help="With --container: the container engine kolla-ansible uses on the host.",
)
@click.option("--on-calendar", default="hourly", show_default=True, help="When the timer fires (systemd.time).")
@click.option(
    "--timeout-start",
    default=DEFAULT_TIMEOUT_START,
    show_default=True,
    help="Stop a run still going after this long (TimeoutStartSec=; systemd.time span, or infinity).",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write scrubctl.service and scrubctl.timer here instead of printing them.",
)
@click.pass_context
def command(
    ctx: click.Context,
    user: str,
    group: str | None,
    image: str | None,
    engine: str,
    on_calendar: str,
    timeout_start: str,
    output_dir: Path | None,
) -> int:
    """Print scrubctl.service and scrubctl.timer for this install: this scrubctl executable, the
    configuration files in use, and write access only to what a run writes (a SQLite database's
    directory, the stores' data directories, the audit log's and metrics file's directories).

    With --container IMAGE, the units of a kolla-ansible controller instead: the timer runs the image
    with kolla's Glance and Ceph files mounted read-only, as the glance user (uid 42415).

    A value that would not fit in a unit (a newline, a name with blanks, a calendar or time span
    systemd-analyze refuses) is refused and nothing is written."""
    app: Application = ctx.obj
    warnings: list[str] = []
    if image is None:
        units, warnings = _host_units(app, user, group, on_calendar, timeout_start)
    else:
        units = _container_units(ctx, image, engine, on_calendar, timeout_start)
    renderer = app.renderer()
    for warning in warnings:
        renderer.warning(warning)
    for name, text in units.items():
        if output_dir is None:
            renderer.raw(f"# /etc/systemd/system/{name}\n{text}\n")
        else:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / name).write_text(text, encoding="utf-8")
            renderer.message(f"wrote {output_dir / name}")
    return 0


def _host_units(
    app: Application, user: str, group: str | None, on_calendar: str, timeout_start: str
) -> tuple[dict[str, str], list[str]]:
    """The units of this install, by file name, and the warnings about them."""
    from scrubctl.unattended.systemd_units import (
        UnitOptions,
        service_unit,
        this_executable,
        timer_unit,
        unit_warnings,
        writable_paths,
    )

    settings = app.settings
    unit_options = UnitOptions(
        executable=this_executable(),
        config_files=[path.resolve() for path in settings.config_files],
        writable_paths=writable_paths(settings),
        user=user,
        group=group,
        on_calendar=on_calendar,
        timeout_start=timeout_start,
    )
    units = {"scrubctl.service": service_unit(unit_options), "scrubctl.timer": timer_unit(unit_options)}
    return units, unit_warnings(unit_options)


def _container_units(
    ctx: click.Context, image: str, engine: str, on_calendar: str, timeout_start: str
) -> dict[str, str]:
    """The units that run ``image`` on a kolla-ansible controller, by file name; the options that do
    not apply to them refused."""
    from scrubctl.unattended.container_units import ContainerUnitOptions, container_service_unit, container_timer_unit

    reasons = {
        "user": "--user does not apply with --container (the image runs as uid 42415)",
        "group": "--group does not apply with --container (the image runs as gid 42415)",
        "config_files": "--config-file does not apply with --container (it reads kolla's /etc/kolla/glance-api/)",
    }
    for name, reason in reasons.items():
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(reason)
    container_options = ContainerUnitOptions(
        image=image, engine=engine, on_calendar=on_calendar, timeout_start=timeout_start
    )
    return {
        "scrubctl.service": container_service_unit(container_options),
        "scrubctl.timer": container_timer_unit(container_options),
    }
