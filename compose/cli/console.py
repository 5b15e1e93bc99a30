"""Shared rich consoles and small helpers for reading command-line inputs."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from compose.errors import UsageError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

#: Largest input file the commands read (scene programs, prompt files, JSONL specs).
MAX_INPUT_BYTES = 16 * 1024 * 1024


def read_text(path: str | Path, what: str = "input") -> str:
    """Read a UTF-8 text file (``-`` for standard input) or raise a coded usage error."""
    if str(path) == "-":
        return sys.stdin.read()
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise UsageError("E003", what=str(p), size=size, limit=MAX_INPUT_BYTES)
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError("E001", path=str(p), reason=exc.strerror or str(exc)) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError("E004", path=str(p), reason=f"byte {exc.start} is not UTF-8") from exc


def add_scene_source(parser) -> None:
    """``FILE`` or ``--prompt TEXT``: the two ways every command takes a scene."""
    parser.add_argument("file", nargs="?", help="scene program (.scene) or scene JSON (.json)")
    parser.add_argument("--prompt", help="a plain-English prompt instead of a file")


def load_scene_from_args(args):
    """The scene named by ``FILE`` or ``--prompt`` (see :func:`add_scene_source`)."""
    from compose.api import load_scene

    if (args.file is None) == (args.prompt is None):
        raise UsageError("E006", argument="FILE/--prompt", value=None,
                         expected="exactly one of a scene file or --prompt TEXT")
    if args.prompt is not None:
        from compose.api import parse_prompt

        return parse_prompt(args.prompt)
    return load_scene(args.file)
