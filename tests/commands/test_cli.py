from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scrubctl.cli import COMMAND_MODULES, scrubctl
from tests.support.world import GlanceWorld, invoke


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_every_command_has_help(name: str) -> None:
    result = invoke([name, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_every_command_module_is_a_command() -> None:
    modules = {path.stem for path in (Path(__file__).resolve().parents[2] / "scrubctl" / "commands").glob("*.py")}
    assert set(COMMAND_MODULES.values()) == modules - {"__init__"}


def test_root_help_and_version() -> None:
    assert invoke(["--help"]).exit_code == 0
    version = invoke(["--version"])
    assert version.exit_code == 0 and "scrubctl" in version.stdout


def test_usage_errors_are_one_line_exit_2() -> None:
    result = invoke(["list-pending", "--limit", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("scrubctl: error:")  # its journald priority only under journald
    assert len(result.stderr.strip().splitlines()) == 1
    unknown = invoke(["no-such-command"])
    assert unknown.exit_code == 2


def test_unreachable_database_is_exit_3() -> None:
    result = invoke(["--db-url", "mysql+pymysql://glance:pw1234@127.0.0.1:9/glance", "list-pending"])
    assert result.exit_code == 3
    assert "cannot connect to mysql+pymysql://glance:***@127.0.0.1:9/glance" in result.stderr
    assert "pw1234" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_global_options_also_work_after_the_command(world: GlanceWorld, tmp_path: Path) -> None:
    image = world.image()
    config = str(world.config_file)
    check = invoke(["check", "--config-file", config])
    assert check.exit_code == 0, check.stdout + check.stderr
    listing = invoke(["list-pending", "-f", "json", "--config-file", config])
    assert listing.exit_code == 0, listing.stderr
    assert [item["id"] for item in json.loads(listing.stdout)] == [image]
    # Given in both places, the one after the command wins for --db-url ...
    unreachable = "mysql+pymysql://glance:pw@127.0.0.1:9/glance"
    overridden = invoke(["--db-url", unreachable, "list-pending", "--db-url", world.url, "-f", "value", "-c", "id"])
    assert overridden.exit_code == 0, overridden.stderr
    assert overridden.stdout == f"{image}\n"
    # ... and configuration files are read in order, before then after.
    later = tmp_path / "later.conf"
    later.write_text("[DEFAULT]\nscrub_time = 864000\n")
    both = invoke(["--config-file", config, "list-pending", "--due", "--config-file", str(later), "-f", "json"])
    assert both.exit_code == 0, both.stderr
    assert json.loads(both.stdout) == []
    # SCRUBCTL_CONFIG_FILE is replaced by --config-file after the command, as it is before it.
    from_env = invoke(
        ["list-pending", "--due", "--config-file", config, "-f", "json"], env={"SCRUBCTL_CONFIG_FILE": str(later)}
    )
    assert [item["id"] for item in json.loads(from_env.stdout)] == [image]
    verbose = invoke(["scrub", "--dry-run", "--config-file", config, "-v"])
    assert verbose.exit_code == 0 and f"image {image}" in verbose.stderr and "started" in verbose.stderr
    quiet = invoke(["scrub", "--dry-run", "-q", "--config-file", config])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "Traceback" not in invoke(["sandbox", "/proc/scrubctl-cannot-be-here"]).stderr
    debug = invoke(["sandbox", "/proc/scrubctl-cannot-be-here", "--debug"])
    assert debug.exit_code == 3 and "Traceback" in debug.stderr


def example_commands(help_text: str) -> list[list[str]]:
    """The example command lines at the end of a help text, as argument lists (after "scrubctl")."""
    assert "Examples:" in help_text, help_text
    head, _, tail = help_text.rpartition("Examples:")
    assert "Options:" in head  # the examples end the help
    examples = []
    for line in tail.strip().splitlines():
        words = shlex.split(line.split("  #", 1)[0])
        assert words[0] == "scrubctl", line
        cut = next((index for index, word in enumerate(words) if word in (">", ">>", "|", "&&")), len(words))
        examples.append(words[1:cut])
    return examples


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_every_command_help_ends_with_real_examples(name: str) -> None:
    result = invoke([name, "--help"])
    assert result.exit_code == 0
    examples = example_commands(result.stdout)
    assert 2 <= len(examples) <= 3
    assert examples[0][0] == name
    for args in examples:
        with scrubctl.make_context("scrubctl", [args[0]]) as root:
            command = scrubctl.get_command(root, args[0])  # (sandbox's help goes on with list-pending)
            assert command is not None
            command.make_context(args[0], args[1:], parent=root)  # parses: real options, valid values


def test_root_help_lists_every_command_on_one_line() -> None:
    text = invoke(["--help"]).stdout
    listing = text.split("Commands:", 1)[1].split("\n\n", 1)[0].strip("\n").splitlines()
    assert [line.split()[0] for line in listing] == sorted(COMMAND_MODULES)
    assert not any(line.rstrip().endswith("...") for line in listing)
    assert example_commands(text)


def test_completion_scripts() -> None:
    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "#compdef scrubctl"), ("fish", "complete")):
        result = invoke(["completion", shell])
        assert result.exit_code == 0, result.stderr
        assert "_SCRUBCTL_COMPLETE" in result.stdout and marker in result.stdout
    assert invoke(["completion", "tcsh"]).exit_code == 2


def test_bash_completes_commands_and_options(tmp_path: Path) -> None:
    wrapper = tmp_path / "bin" / "scrubctl"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m scrubctl "$@"\n')
    wrapper.chmod(0o755)

    def complete(*words: str) -> list[str]:
        array = " ".join(shlex.quote(word) for word in words)
        script = (
            f'eval "$(scrubctl completion bash)"; COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; '
            '_scrubctl_completion scrubctl; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        env = {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.split()

    assert complete("scrubctl", "list-p") == ["list-pending"]
    assert "--dry-run" in complete("scrubctl", "scrub", "--dry")
    assert complete("scrubctl", "check", "--config-f") == ["--config-file"]
