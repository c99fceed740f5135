"""The reference in docs/reference/ keeps up with the code: every option of every command (walked from
the root group, as ``--help`` shows them) is documented in that command's section of commands.md, the
global options in theirs, and every exit code of scrubctl/errors.py in exit-codes.md."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from scrubctl import errors
from scrubctl.cli import scrubctl

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
COMMANDS_PAGE = REFERENCE / "commands.md"
EXIT_CODES_PAGE = REFERENCE / "exit-codes.md"
GLOBAL_SECTION = "Global options"


def sections(path: Path) -> dict[str, str]:
    """Each second-level section of a page by its heading (backquotes dropped), with its subsections."""
    parts = re.split(r"^## (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {heading.replace("`", "").strip(): body for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def commands() -> dict[str, click.Command]:
    context = click.Context(scrubctl)
    found = {}
    for name in scrubctl.list_commands(context):
        command = scrubctl.get_command(context, name)
        assert command is not None, name
        found[name] = command
    return found


def own_options(command: click.Command) -> list[click.Option]:
    """The options a command declares, without the global ones every command also takes."""
    global_names = {name for option in scrubctl.params for name in option.opts}
    return [
        param
        for param in command.params
        if isinstance(param, click.Option) and not global_names.intersection(param.opts) and "--help" not in param.opts
    ]


def undocumented(options: list[click.Option], text: str) -> list[str]:
    """The option names (long and short) that do not appear in ``text`` as code (`--name`, `-n`)."""
    missing = []
    for option in options:
        for name in [*option.opts, *option.secondary_opts]:
            if not re.search(rf"`{re.escape(name)}(?![\w-])", text):
                missing.append(name)
    return missing


def test_every_command_has_a_section() -> None:
    documented = sections(COMMANDS_PAGE)
    missing = [name for name in commands() if f"scrubctl {name}" not in documented]
    assert not missing, f"commands without a '## `scrubctl NAME`' section in {COMMANDS_PAGE.name}: {missing}"


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_option_of_a_command_is_documented_in_its_section(name: str) -> None:
    section = sections(COMMANDS_PAGE).get(f"scrubctl {name}", "")
    missing = undocumented(own_options(commands()[name]), section)
    assert not missing, f"options of `scrubctl {name}` missing from its section of {COMMANDS_PAGE.name}: {missing}"


def test_every_argument_of_a_command_is_in_its_synopsis() -> None:
    documented = sections(COMMANDS_PAGE)
    missing = []
    for name, command in commands().items():
        for argument in (param for param in command.params if isinstance(param, click.Argument)):
            metavar = argument.make_metavar(click.Context(command)).strip("[]").rstrip(".")
            shown = {metavar, argument.name.upper() if argument.name else metavar}
            if argument.type.name == "choice":
                shown = {"|".join(argument.type.choices)}  # type: ignore[attr-defined]
            if not any(word in documented.get(f"scrubctl {name}", "") for word in shown):
                missing.append(f"{name} {metavar}")
    assert not missing, f"arguments missing from the synopses in {COMMANDS_PAGE.name}: {missing}"


def test_the_global_options_are_documented() -> None:
    help_option = scrubctl.get_help_option(click.Context(scrubctl))
    assert help_option is not None
    options = [param for param in scrubctl.params if isinstance(param, click.Option)] + [help_option]
    assert {"--config-file", "--db-url", "--version", "--help"} <= {name for option in options for name in option.opts}
    missing = undocumented(options, sections(COMMANDS_PAGE)[GLOBAL_SECTION])
    assert not missing, f"global options missing from '{GLOBAL_SECTION}' in {COMMANDS_PAGE.name}: {missing}"


def test_every_exit_code_is_documented() -> None:
    codes = {name: value for name, value in vars(errors).items() if name.startswith("EXIT_") and isinstance(value, int)}
    assert len(codes) >= 8
    table_rows = re.findall(r"^\| (\d+) \|", EXIT_CODES_PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    missing = sorted(f"{name} = {value}" for name, value in codes.items() if str(value) not in table_rows)
    assert not missing, f"exit codes missing from the table in {EXIT_CODES_PAGE.name}: {missing}"


def test_the_check_finds_an_undocumented_option() -> None:
    """The checks above can fail: an option the page does not name is reported, long and short."""
    option = click.Option(["-z", "--zebra-stripes"])
    assert undocumented([option], "`--zebra` and `-zz` are other options") == ["-z", "--zebra-stripes"]
    assert undocumented([option], "| `-z`, `--zebra-stripes` | stripes |") == []


def test_the_readme_is_a_landing_page_with_the_two_commands() -> None:
    """The README stays short, and keeps the demo and test commands that CI (.ci/run) runs exactly."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.split()) <= 1500
    assert "\n./scripts/demo    # creates .venv, builds a sandbox in .run/sandbox" in readme
    assert "\n./scripts/test    # the whole test suite" in readme
    assert "exec ./scripts/test\n" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
