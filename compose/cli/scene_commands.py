"""``compose parse``, ``compose check``, ``compose fmt`` and ``compose schema``."""

from __future__ import annotations

import json
from pathlib import Path

from compose.cli.console import console, err_console, print_error
from compose.errors import ComposeError, UsageError
from compose.io import read_text, write_text_atomic


def register(subparsers) -> None:
    p = subparsers.add_parser("parse", help="parse a scene program or prompt and show the scene",
                              description="Parse a scene program (FILE), a prompt (--prompt) or a file "
                                          "of prompts (--prompts FILE --jsonl) into the scene JSON.")
    p.add_argument("file", nargs="?", help="a scene program (.scene) or scene JSON (.json)")
    p.add_argument("--prompt", help="a plain-English prompt instead of a file")
    p.add_argument("--prompts", metavar="FILE", help="a file with one prompt a line ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="print the scene JSON")
    p.add_argument("--jsonl", action="store_true", help="with --prompts: one scene JSON a line")
    p.set_defaults(func=run_parse)

    p = subparsers.add_parser("check", help="check scene programs for errors (no output when fine)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run_check)

    p = subparsers.add_parser("fmt", help="rewrite scene programs in canonical form")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--check", action="store_true", help="only report files that would change (exit 1)")
    p.set_defaults(func=run_fmt)

    p = subparsers.add_parser("schema", help="print the JSON schema of the scene JSON")
    p.set_defaults(func=run_schema)


def run_parse(args) -> int:
    from compose.api import load_scene

    sources = [args.file is not None, args.prompt is not None, args.prompts is not None]
    if sum(sources) != 1:
        raise UsageError("E006", argument="FILE/--prompt/--prompts", value=None,
                         expected="exactly one of a scene file, --prompt TEXT or --prompts FILE")
    if args.prompts is not None:
        return _parse_prompt_lines(args)
    if args.prompt is not None:
        from compose.api import parse_prompt

        scene = parse_prompt(args.prompt)
    else:
        scene = load_scene(args.file)
    if args.json:
        print(scene.to_json())
    else:
        _print_summary(scene)
    return 0


def _parse_prompt_lines(args) -> int:
    """One scene per non-blank line, in order. A line that cannot be read (empty after framing,
    too long) gives a row ``{"line": N, "error": {"code", "message"}}`` in its place, the rest go
    on, and the command exits 3 at the end."""
    from compose.api import format_scene, parse_prompt, parse_prompts
    from compose.errors import PromptError

    numbered = [(n, line.strip()) for n, line in enumerate(read_text(args.prompts, "prompts").splitlines(), 1)]
    numbered = [(n, text) for n, text in numbered if text]
    try:
        results: list = parse_prompts([text for _, text in numbered])
    except PromptError:  # find the bad lines one by one; the batch path stays fast for clean files
        results = []
        for _, text in numbered:
            try:
                results.append(parse_prompt(text))
            except PromptError as err:
                results.append(err)
    failed = 0
    for (n, _), result in zip(numbered, results):
        if isinstance(result, PromptError):
            failed += 1
            row = {"line": n, "error": {"code": result.code, "message": result.message}}
            if args.jsonl or args.json:
                print(json.dumps(row))
            else:
                err_console.print(f"[red]error[{result.code}][/] line {n}: {result.message}")
            continue
        print(result.to_json(indent=None) if args.jsonl or args.json else format_scene(result))
    return 3 if failed else 0


def _print_summary(scene) -> None:
    from rich.table import Table

    from compose.api import format_scene

    table = Table(title="objects", title_justify="left")
    for column in ("id", "class", "phrase", "attributes"):
        table.add_column(column)
    for inst in scene.instances():
        table.add_row(inst.id, inst.class_name, inst.phrase,
                      ", ".join(f"{k}={v}" for k, v in inst.attributes.items()))
    console.print(table)
    relations = scene.relations()
    if relations:
        rel = Table(title="relations", title_justify="left")
        for column in ("subject", "predicate", "object", "hard", "weight"):
            rel.add_column(column)
        for r in relations:
            rel.add_row(r.subject, r.predicate, ", ".join(r.object_ids), str(r.hard), f"{r.weight:g}")
        console.print(rel)
    if scene.forbid:
        console.print("forbid: " + ", ".join(scene.forbid))
    for warning in scene.warnings:
        err_console.print(f"[yellow]warning[/]: {warning.message}")
    console.print()
    console.print(format_scene(scene), end="", markup=False)


def run_check(args) -> int:
    from compose.api import load_scene

    worst = 0
    for name in args.files:
        try:
            load_scene(name)
        except ComposeError as err:
            if args.debug:
                raise
            print_error(err)
            worst = max(worst, err.exit_code)
    if worst == 0:
        err_console.print(f"{len(args.files)} file(s) ok")
    return worst


def run_fmt(args) -> int:
    from compose.language import format_program

    changed = []
    for name in args.files:
        if name.endswith(".json"):
            raise UsageError("E006", argument="FILE", value=name, expected="a scene program, not JSON")
        text = read_text(name, "scene")
        formatted = format_program(text, file=name)
        if formatted != text:
            changed.append(name)
            if not args.check:
                write_text_atomic(Path(name), formatted)
    verb = "would reformat" if args.check else "reformatted"
    for name in changed:
        err_console.print(f"{verb} {name}")
    err_console.print(f"{len(changed)} of {len(args.files)} file(s) {verb}")
    return 1 if args.check and changed else 0


def run_schema(args) -> int:
    from compose.scene import Scene

    print(json.dumps(Scene.json_schema(), indent=2))
    return 0
