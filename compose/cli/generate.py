"""``compose generate``: a scene or prompt in, a verified image out (exit 0 pass, 6 fail)."""

from __future__ import annotations

from pathlib import Path

from compose.cli.console import add_scene_source, console, err_console, load_scene_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="parse, lay out, render, verify and repaint until the image passes",
        description="The main job. DIR gets image.png (the final image), round-K.png for every round, "
                    "scene.scene, layout.json, report.json, report.html and run.json.")
    add_scene_source(p)
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--backbone", default="embedded", help="backbone name (default: embedded)")
    p.add_argument("--seed", type=int, help="seed (default: the scene's seed, else 0)")
    p.add_argument("--max-rounds", type=int, default=3, help="repaint rounds after the first render (default 3)")
    p.add_argument("--best-of", type=int, metavar="N",
                   help="the baseline instead of the loop: N seeds (each its own layout and render), no repair, "
                        "keep the best")
    p.add_argument("--budget", type=float, metavar="RENDERS",
                   help="stop repairing after this many renders' worth of compute (NFE of one default render)")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="seconds for the whole run: no repair round starts after them, and the best image so far "
                        "is written")
    p.add_argument("--steps", type=int, help="denoising steps (the backbone's default otherwise)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale")
    p.add_argument("--detector", help="verifier detector (default: world for the embedded world, owlv2 otherwise)")
    p.add_argument("--model", help="backbone weights: a local folder or a Hugging Face id in the local cache")
    p.add_argument("--device", help="cuda, mps or cpu")
    p.add_argument("--dtype", help="fp32, fp16 or bf16")
    p.set_defaults(func=run)


def run(args) -> int:
    from compose.batch.generate import check_backbone, check_detector
    from compose.errors import UsageError
    from compose.limits import check_run_options
    from compose.loop import best_of_n, generate
    from compose.seeds import check_seed

    if args.best_of is not None and args.best_of < 1:
        raise UsageError("E006", argument="--best-of", value=args.best_of, expected="a positive number of seeds")
    source = getattr(args, "file", None) or getattr(args, "prompt", None)
    options = {k: getattr(args, k) for k in ("model", "device", "dtype") if getattr(args, k) is not None}
    if args.backbone == "embedded" and "model" in options:
        options["weights"] = options.pop("model")  # the embedded model's weights are one safetensors file
    # every run-level option is checked before the scene is even read (exit 2, coded)
    check_run_options(steps=args.steps, guidance=args.guidance, max_rounds=args.max_rounds, device=args.device,
                      time_limit=args.time_limit)
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    check_backbone(args.backbone, options, argument="--model/--device/--dtype")
    check_detector(args.detector)
    scene = load_scene_from_args(args)
    with err_console.status("compose generate") as status:
        def progress(line: str) -> None:
            status.update(f"compose generate: {line}")
            err_console.print(f"[dim]· {line}[/]")

        if args.best_of is not None:
            result = best_of_n(scene, args.best_of, backbone=args.backbone, seed=args.seed, steps=args.steps,
                               guidance=args.guidance, detector=args.detector, backbone_options=options,
                               out_dir=Path(args.out), source=source, progress=progress)
        else:
            result = generate(scene, backbone=args.backbone, seed=args.seed, max_rounds=args.max_rounds,
                              steps=args.steps, guidance=args.guidance, detector=args.detector,
                              backbone_options=options, out_dir=Path(args.out), budget=args.budget,
                              time_limit=args.time_limit, source=source, progress=progress)
    for check in result.report.checks:
        mark = "[green]pass[/]" if check.passed else ("[red]FAIL[/]" if check.hard else "[yellow]soft[/]")
        console.print(f"  {mark} {check.kind:<10} {check.reason}", highlight=False)
    verdict = "[bold green]passed[/]" if result.passed else "[bold red]failed[/]"
    what = (f"{len(result.rounds)} candidate(s)" if args.best_of is not None
            else f"{len(result.rounds) - 1} repair round(s)")
    cost = result.cost
    console.print(f"{verdict} after {what} (kept {result.best}); seed {result.seed}; "
                  f"{cost.nfe} NFE ({cost.renders:.2f} renders' worth); "
                  f"{sum(result.timings.values()):.2f} s -> {Path(args.out) / 'image.png'}")
    return 0 if result.passed else 6
