"""``compose render FILE|--prompt TEXT|--layout LAYOUT -o out.png``: lay a scene out and draw it."""

from __future__ import annotations

from compose.cli.console import add_scene_source, console
from compose.errors import UsageError
from compose.io import read_text
from compose.seeds import resolve_seed


def register(subparsers) -> None:
    p = subparsers.add_parser("render", help="lay a scene out and render it with a backbone",
                              description="Lay out a scene program, scene JSON or prompt (same seed, same "
                                          "layout as `compose layout`) and render it with a backbone "
                                          "(default: the embedded model, which runs on a CPU). "
                                          "--layout renders a layout JSON as it is.")
    add_scene_source(p)
    p.add_argument("--layout", metavar="LAYOUT", help="render this layout JSON instead of laying a scene out")
    p.add_argument("-o", "--out", required=True, metavar="PNG", help="output image")
    p.add_argument("--backbone", default="embedded", help="backbone name (default: embedded; also procedural)")
    p.add_argument("--seed", type=int, default=None, help="seed of the layout and the image (default: the scene's, else 0)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the backbone's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the backbone's)")
    p.add_argument("--layout-out", metavar="JSON", help="also write the layout used, as layout JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from compose.api import render
    from compose.batch.generate import check_backbone
    from compose.cli.console import load_scene_from_args
    from compose.layouts import Layout
    from compose.limits import check_run_options
    from compose.seeds import check_seed

    check_run_options(steps=args.steps, guidance=args.guidance)
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    check_backbone(args.backbone)
    if args.layout is not None:
        if args.file is not None or args.prompt is not None:
            raise UsageError("E006", argument="--layout", value=args.layout,
                             expected="either --layout or a scene (FILE/--prompt), not both")
        layout = Layout.from_json(read_text(args.layout, "layout"))
    else:
        scene = load_scene_from_args(args)
        seed = resolve_seed(args.seed, scene.seed, argument="--seed")
        from compose.api import layout as solve_layout

        layout = solve_layout(scene, seed=seed)
    seed = resolve_seed(args.seed, layout.seed, argument="--seed")
    if args.layout_out:
        from compose.io import write_text_atomic

        write_text_atomic(args.layout_out, layout.to_json() + "\n")
    result = render(layout, backbone=args.backbone, seed=seed, steps=args.steps, guidance=args.guidance)
    out = Path(args.out)
    try:
        result.images[0].save(out)
    except (OSError, ValueError) as exc:
        raise UsageError("E006", argument="-o", value=str(out), expected=f"a writable image path ({exc})") from exc
    took = sum(result.timings.values())
    steps = f", {result.steps} steps" if result.steps else ""
    console.print(f"wrote {out} ({result.images[0].width}x{result.images[0].height}, {args.backbone}{steps}, "
                  f"seed {seed}, {took:.2f} s)")
    return 0
