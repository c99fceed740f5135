"""``scrubctl completion SHELL``: the shell completion script, from click's own mechanism."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from scrubctl import options
from scrubctl.app import Application

# The shell's completion function calls scrubctl with this variable set (see scrubctl.cli.run).
COMPLETE_VAR = "_SCRUBCTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


@click.command(
    "completion",
    short_help="Print the shell completion script (bash, zsh or fish).",
    epilog=options.examples(
        ("scrubctl completion bash > /etc/bash_completion.d/scrubctl", "for every bash user"),
        ("scrubctl completion zsh > ~/.zfunc/_scrubctl", "zsh, with ~/.zfunc in fpath"),
        ("scrubctl completion fish > ~/.config/fish/completions/scrubctl.fish", "fish"),
    ),
)
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_obj
def command(app: Application, shell: str) -> int:
    """Print the completion script for SHELL: commands, options and their choices complete on Tab.
    In bash, eval "$(scrubctl completion bash)" in ~/.bashrc does the same for one user."""
    completion = get_completion_class(shell)
    if completion is None:  # pragma: no cover - click knows the three SHELLS
        raise click.BadParameter(f"no completion for {shell}")
    root = click.get_current_context().find_root().command
    app.renderer().raw(completion(root, {}, "scrubctl", COMPLETE_VAR).source())
    return 0
