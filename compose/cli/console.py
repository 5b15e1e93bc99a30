"""The command line's output and input helpers: rich consoles, error printing, scene arguments."""

from __future__ import annotations

from rich.console import Console

from compose.errors import ComposeError, UsageError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def add_scene_source(parser) -> None:
    """``FILE`` or ``--prompt TEXT``: the two ways every command takes a scene."""
    parser.add_argument("file", nargs="?", help="scene program (.scene) or scene JSON (.json)")
    parser.add_argument("--prompt", help="a plain-English prompt instead of a file")


def load_scene_from_args(args):
    """The scene named by ``FILE`` or ``--prompt`` (see :func:`add_scene_source`)."""
    from compose.sources import as_scene

    if (args.file is None) == (args.prompt is None):
        raise UsageError("E006", argument="FILE/--prompt", value=None,
                         expected="exactly one of a scene file or --prompt TEXT")
    if args.prompt is not None:
        return as_scene(args.prompt)
    return as_scene(args.file, kind="file")


def print_error(err: ComposeError) -> None:
    """``error[E###]: message``, then where it happened and the source excerpt, on standard error."""
    location = err.location()
    head = f"[bold red]error[{err.code}][/]: "
    err_console.print(head + _escape(err.message), highlight=False)
    if location:
        err_console.print(f"  [blue]-->[/] {_escape(location)}", highlight=False)
    excerpt = err.excerpt()
    if excerpt:
        err_console.print(_escape(excerpt), highlight=False)
    from compose.limits import MAX_CONFLICTS_SHOWN

    for conflict in (getattr(err, "conflicts", None) or [])[:MAX_CONFLICTS_SHOWN]:  # E301: where each one is
        span = getattr(conflict, "span", None)
        shown = err.excerpt(span) if span is not None else None
        if span is not None:
            err_console.print(f"  [blue]-->[/] {_escape(span.describe())}", highlight=False)
        if shown:
            err_console.print(_escape(shown), highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
