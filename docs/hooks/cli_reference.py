"""MkDocs hook: the CLI reference, generated from the Typer app itself at build time.

A page's `<!-- cli-reference -->` line becomes, for `nncmp` and each of its commands, a section with the
command's `--help` exactly as the terminal prints it, so the reference cannot drift from the code.
(mkdocs-click would do this for plain click, but Typer ≥ 0.20 vendors its own copy of click, whose
options mkdocs-click does not recognise as options.)
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- cli-reference -->"


def _help(command: Any, name: str, parent: Any = None) -> str:
    ctx = command.context_class(command, info_name=name, parent=parent, terminal_width=100, max_content_width=100)
    return command.get_help(ctx), ctx


def reference() -> str:
    import typer.main

    from nncmp.cli.app import app

    root = typer.main.get_command(app)
    text, ctx = _help(root, "nncmp")
    parts = ["## `nncmp`", "", "```text", text, "```", ""]
    for name, command in root.commands.items():
        text, _ = _help(command, name, ctx)
        parts += [f"## `nncmp {name}`", "", "```text", text, "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown
