"""``compose world dataset`` and ``compose world train``: the embedded world's data and model."""

from __future__ import annotations

from compose.cli.console import console
from compose.errors import UsageError


def register(subparsers) -> None:
    world = subparsers.add_parser("world", help="the embedded world: datasets and training",
                                  description="Make datasets of the embedded world and train its model.")
    sub = world.add_subparsers(dest="world_command", metavar="COMMAND")

    p = sub.add_parser("dataset", help="render random scenes with COCO-format annotations",
                       description="Render N random scenes of shapes (laid out by the layout solver "
                                   "when installed, else sampled) into DIR/images with DIR/annotations.json "
                                   "in COCO format (boxes, classes, colors, segmentation).")
    p.add_argument("--n", type=int, required=True, help="number of scenes")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the whole dataset (default 0)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    p.add_argument("--objects", default="1-8", help="range of objects per scene, e.g. 1-8 (default)")
    p.add_argument("--sampler", choices=["auto", "solver", "boxes"], default="auto",
                   help="lay scenes out with the solver, sample boxes directly, or auto (solver if installed)")
    p.set_defaults(func=run_dataset)

    p = sub.add_parser("train", help="train the embedded diffusion model (resumes from --out)",
                       description="Train the layout-conditioned diffusion model on scenes drawn on the fly "
                                   "by the procedural renderer. Checkpoints go to OUT/checkpoint "
                                   "(safetensors + JSON) and a run resumes from there; OUT/loss.jsonl logs the loss.")
    p.add_argument("--steps", type=int, default=8000, help="total optimizer steps (default 8000)")
    p.add_argument("--batch-size", type=int, default=16, help="scenes per step (default 16)")
    p.add_argument("--lr", type=float, default=6e-4, help="peak learning rate (default 6e-4)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, noise and initial weights (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder (checkpoints, loss log)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    p.add_argument("--export", metavar="FILE", help="after training, write the EMA weights here (safetensors)")
    p.add_argument("--int8", action="store_true",
                   help="export int8 weights with a scale per output channel (half the size of float16)")
    p.add_argument("--init", metavar="FILE", help="start from exported weights (e.g. the shipped ones) "
                   "when OUT has no checkpoint; the step count continues from the file's")
    p.add_argument("--warmup", type=int, default=200, help="learning-rate warm-up steps (default 200)")
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                   help="after the warm-up: constant, or a cosine down to zero at --steps (default constant)")
    p.add_argument("--no-resume", action="store_true", help="start fresh even when OUT has a checkpoint")
    p.set_defaults(func=run_train)
    world.set_defaults(func=lambda args: (world.print_help(), 2)[1])


def _range(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        bounds = int(lo), int(hi or lo)
    except ValueError:
        bounds = (0, -1)
    if not 1 <= bounds[0] <= bounds[1] <= 50:
        raise UsageError("E006", argument="--objects", value=text, expected="a range such as 1-8 within 1..50")
    return bounds


def run_dataset(args) -> int:
    from compose.world.dataset import write_dataset

    if args.n < 1:
        raise UsageError("E006", argument="--n", value=args.n, expected="a positive number of scenes")
    if not 16 <= args.size <= 4096:
        raise UsageError("E006", argument="--size", value=args.size, expected="16..4096 pixels")
    summary = write_dataset(args.out, args.n, seed=args.seed, size=args.size, objects=_range(args.objects),
                            sampler=args.sampler)
    console.print(f"wrote {summary['images']} images, {summary['annotations']} objects "
                  f"({summary['sampler']}) to {args.out}")
    return 0


def run_train(args) -> int:
    from compose.world.train import TrainConfig, export_weights, train

    for name in ("steps", "batch_size", "checkpoint_every", "threads"):
        if getattr(args, name) < 1:
            raise UsageError("E006", argument=f"--{name.replace('_', '-')}", value=getattr(args, name),
                             expected="a positive integer")
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         checkpoint_every=args.checkpoint_every, threads=args.threads, warmup=args.warmup,
                         schedule=args.schedule)
    trainer = train(config, args.out, device=args.device, resume=not args.no_resume, init=args.init)
    console.print(f"trained to step {trainer.step} in {trainer.wall_time:.0f} s on {trainer.device}")
    if args.export:
        digest = export_weights(args.out, args.export, int8=args.int8)
        console.print(f"exported EMA weights to {args.export} (sha256 {digest})")
    return 0
