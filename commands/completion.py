"""``duban completion SHELL``: the script that completes duban's commands and options."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """输出命令补全脚本。bash: 在 ~/.bashrc 加 eval "$(duban completion bash)";
    zsh: 在 ~/.zshrc 加 eval "$(duban completion zsh)";
    fish: duban completion fish > ~/.config/fish/completions/duban.fish。"""
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(ctx.find_root().command, {}, "duban", "_DUBAN_COMPLETE")
    click.echo(script.source())


COMMANDS = (completion,)
