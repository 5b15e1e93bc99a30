"""``compose layout FILE|--prompt TEXT [--seed N] [--json] [--png PNG] [--time-limit S]``.

Lays a scene out and prints the boxes: a table, or with ``--json`` the layout JSON
(``{"canvas": [w, h], "boxes": {id: [x0, y0, x1, y1]}, ...}``, normalised 0..1, origin top-left).
``--png`` draws the boxes, labelled, on a blank canvas. An impossible scene exits with code 4
and lists the statements that cannot hold together, each with its line.
"""

from __future__ import annotations

from compose.cli.console import add_scene_source, console
from compose.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("layout", help="lay a scene out: one box per object",
                              description="Solve a scene's layout (one box per instance) and print it.")
    add_scene_source(p)
    p.add_argument("--seed", type=int, default=None,
                   help="layout seed (default: the scene's seed, else 0); same seed, same layout")
    p.add_argument("--json", action="store_true", help="print the layout JSON instead of a table")
    p.add_argument("--png", metavar="PNG", help="also draw the labelled boxes into this image")
    p.add_argument("--time-limit", type=float, default=10.0, metavar="S",
                   help="seconds the solver may take (default: 10)")
    p.set_defaults(func=run)


def run(args) -> int:
    import math

    from compose.api import layout
    from compose.cli.console import load_scene_from_args
    from compose.errors import InfeasibleLayoutError

    if not (math.isfinite(args.time_limit) and 0 < args.time_limit <= 3600):
        raise UsageError("E006", argument="--time-limit", value=args.time_limit,
                         expected="a number of seconds in (0, 3600]")
    if args.seed is not None:
        from compose.seeds import check_seed

        check_seed(args.seed, "--seed")
    scene = load_scene_from_args(args)
    try:
        lay = layout(scene, seed=args.seed, time_limit=args.time_limit)
    except InfeasibleLayoutError as err:
        if args.file is not None and args.file != "-" and not str(args.file).endswith(".json"):
            from compose.io import read_text

            err.source = read_text(args.file, "scene")
        raise
    if args.png:
        draw_layout(lay, args.png)
    if args.json:
        console.print_json(lay.to_json())
        return 0
    from rich.table import Table

    table = Table(title=f"layout, canvas {lay.canvas[0]} x {lay.canvas[1]}, seed {lay.seed}")
    for column in ("instance", "phrase", "x0", "y0", "x1", "y1", "z"):
        table.add_column(column, justify="right" if column in ("x0", "y0", "x1", "y1", "z") else "left")
    for iid, box in lay.boxes.items():
        region = lay.objects.get(iid)
        table.add_row(iid, region.phrase if region else "", *(f"{v:.3f}" for v in box),
                      str(region.z if region else 0))
    console.print(table)
    if args.png:
        console.print(f"wrote {args.png}")
    return 0


def draw_layout(lay, path: str) -> None:
    """Draw ``lay``'s boxes with their instance ids into ``path`` (PNG), back to front."""
    from PIL import Image, ImageDraw

    w, h = lay.canvas
    image = Image.new("RGB", (w, h), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
               (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
    for k, iid in enumerate(lay.drawing_order()):
        x0, y0, x1, y1 = lay.pixel_box(iid)
        color = palette[k % len(palette)]
        draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=color, width=2)
        draw.text((x0 + 3, y0 + 2), iid, fill=color)
    try:
        image.save(path)
    except (OSError, ValueError) as exc:
        raise UsageError("E006", argument="--png", value=path, expected=f"a writable image path ({exc})") from exc
