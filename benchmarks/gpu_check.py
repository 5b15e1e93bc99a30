"""Every diffusers backbone at full size on one GPU: seconds per step and peak memory, regional
against plain, plus one repaint, in one table.

Run: python benchmarks/gpu_check.py [--models sd15 sdxl-base ...] [--steps 4] [--regions 3]
                                    [--device cuda] [--dtype bf16] [--out table.json]

Each model's components are built from its published architecture
(:mod:`compose.backbones.reference_configs`) with random weights directly on the device in
``--dtype`` (nothing is downloaded or saved: FLUX.2-dev's transformer alone is 64 GB in bf16), and
wrapped with ``DiffusersBackbone.from_pipeline``. Tokenizers are the small ones the tests write
(random weights make the words meaningless anyway). FLUX.2-dev's 24 B Mistral text encoder is
not built: its prompt embeddings are random tensors of the real shape (``(1, L, 15360)``), which
leaves the denoising steps, the part timed, unchanged. Images are 1024 px (SD 1.5: 512 px).

Per model: one plain render (the pipeline's own call on the base prompt), one regional render
(``--regions`` boxes), each after a warm-up, and one repaint of the left half; seconds per step
are the call's wall time over ``--steps`` (text encoding and decoding included, as a user sees
it), peak memory is ``torch.cuda.max_memory_allocated`` during the call. ``--depth N`` keeps only
N layers in every transformer and text encoder (a smoke test of this script on a CPU).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_backbones import layout  # the same test layout as the CPU benchmark

MODELS = ["sd15", "sdxl-base", "sd35-medium", "flux1-dev", "flux2-klein-4b", "flux2-dev", "qwen-image"]


def shallow(model: str, part: str, depth: int | None) -> dict:
    """Config overrides keeping ``depth`` layers (``None``: the real depth)."""
    if depth is None:
        return {}
    from compose.backbones.reference_configs import REFERENCE

    config = REFERENCE[model][part][1]
    out = {}
    for key in ("num_layers", "num_single_layers", "num_hidden_layers"):
        if key in config:
            out[key] = depth
    if part == "transformer" and "dual_attention_layers" in config:
        out["dual_attention_layers"] = list(range(min(depth, 13)))
    if "text_config" in config:
        out["text_config"] = {**config["text_config"], "num_hidden_layers": depth}
        out["vision_config"] = {**config["vision_config"], "depth": 1, "fullatt_block_indexes": [0]}
    return out


def build_pipeline(model: str, device: str, dtype, folder: Path, depth: int | None):
    """The model's diffusers pipeline with random weights on ``device``; the backbone options it
    needs (text lengths, the layers klein stacks)."""
    import diffusers
    import torch
    from helpers.tiny_diffusers import clip_tokenizer, qwen_tokenizer, t5_tokenizer

    from compose.backbones.reference_configs import REFERENCE, build

    parts = {part: build(model, part, device=device, dtype=dtype, **shallow(model, part, depth))
             for part in REFERENCE[model] if not (model == "flux2-dev" and part == "text_encoder")}
    with torch.device("cpu"):
        flow = diffusers.FlowMatchEulerDiscreteScheduler
        if model == "sd15":
            pipe = diffusers.StableDiffusionPipeline(
                **parts, tokenizer=clip_tokenizer(folder / "clip"), scheduler=diffusers.DDIMScheduler(),
                safety_checker=None, feature_extractor=None, requires_safety_checker=False)
            return pipe, {}
        if model == "sdxl-base":
            tok = clip_tokenizer(folder / "clip")
            return diffusers.StableDiffusionXLPipeline(**parts, tokenizer=tok, tokenizer_2=tok,
                                                       scheduler=diffusers.EulerDiscreteScheduler()), {}
        if model == "sd35-medium":
            tok = clip_tokenizer(folder / "clip")
            return diffusers.StableDiffusion3Pipeline(**parts, tokenizer=tok, tokenizer_2=tok,
                                                      tokenizer_3=t5_tokenizer(),
                                                      scheduler=flow(shift=3.0)), {"max_sequence_length": 256}
        if model == "flux1-dev":
            return diffusers.FluxPipeline(**parts, tokenizer=clip_tokenizer(folder / "clip"),
                                          tokenizer_2=t5_tokenizer(),
                                          scheduler=flow(use_dynamic_shifting=True, shift=3.0)), {
                "max_sequence_length": 512}
        if model == "flux2-klein-4b":
            layers = [9, 18, 27] if depth is None else [depth] * 3
            return diffusers.Flux2KleinPipeline(
                **parts, tokenizer=qwen_tokenizer(folder / "qwen", chat=True),
                scheduler=flow(use_dynamic_shifting=True, shift=3.0), is_distilled=False), {
                "max_sequence_length": 512, "text_encoder_out_layers": layers}
        if model == "flux2-dev":
            return diffusers.Flux2Pipeline(**parts, text_encoder=None, tokenizer=None,
                                           scheduler=flow(use_dynamic_shifting=True, shift=3.0)), {
                "max_sequence_length": 512}
        if model == "qwen-image":
            return diffusers.QwenImagePipeline(**parts, tokenizer=qwen_tokenizer(folder / "qwen"),
                                               scheduler=flow(use_dynamic_shifting=True, shift=3.0)), {}
    raise SystemExit(f"unknown model {model!r}")


def random_text(backbone, generator_seed: int = 0):
    """FLUX.2-dev without its text encoder: segments of random embeddings of the real width."""
    import torch

    width = backbone.pipe.transformer.config.joint_attention_dim
    device, dtype = backbone.pipe._execution_device, backbone.pipe.transformer.dtype
    g = torch.Generator(device="cpu").manual_seed(generator_seed)

    def segments(base: str, regions: list[str]):
        lengths = [int(backbone.options["max_sequence_length"])]
        lengths += [int(backbone.options["region_sequence_length"])] * len(regions)
        embeds = torch.randn(1, sum(lengths), width, generator=g).to(device=device, dtype=dtype)
        return embeds, lengths

    backbone.segments = segments


class Peak:
    def __init__(self, device: str) -> None:
        self.device = device
        self.bytes = 0

    def __enter__(self):
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self.start
        self.seconds = time.perf_counter() - self.t0
        return False


def check(model: str, args) -> dict:
    import torch
    from PIL import Image

    from compose.backbones.base import backbone_class
    from compose.backbones.conditioning import layout_prompts
    from compose.backbones.reference_configs import BACKBONE_OF

    name, size = BACKBONE_OF[model]
    size = args.px or size
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        pipe, options = build_pipeline(model, args.device, dtype, Path(tmp), args.depth)
    pipe.set_progress_bar_config(disable=True)
    backbone = backbone_class(name).from_pipeline(pipe, **options)
    built = time.perf_counter() - t0
    if model == "flux2-dev":
        random_text(backbone)
    lay = layout(size, args.regions)
    prompt = layout_prompts(lay).base
    plain_kwargs = {"height": size, "width": size, "num_inference_steps": args.steps}
    if name == "qwen-image-regional":
        plain_kwargs["true_cfg_scale"] = 1.0
        guidance = 1.0
    else:
        guidance = backbone.options["guidance"]
        plain_kwargs["guidance_scale"] = guidance
    for key in ("max_sequence_length", "text_encoder_out_layers"):
        if key in options:
            plain_kwargs[key] = tuple(options[key]) if key == "text_encoder_out_layers" else options[key]
    if model == "flux2-dev":
        embeds, _ = backbone.segments(prompt, [])
        plain_kwargs["prompt_embeds"] = embeds
        plain_kwargs.pop("max_sequence_length")
    else:
        plain_kwargs["prompt"] = prompt

    def plain():
        pipe(generator=torch.Generator(args.device).manual_seed(0), **plain_kwargs)

    def regional():
        backbone.render([lay], seeds=[0], steps=args.steps, guidance=guidance)

    image = Image.new("RGB", (size, size), (120, 110, 100))
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (0, 0, size // 2, size))

    def repaint():
        backbone.repaint([image], [mask], [lay], seeds=[1], steps=args.steps, guidance=guidance)

    row = {"model": model, "backbone": name, "px": size, "steps": args.steps, "regions": args.regions,
           "dtype": args.dtype, "device": args.device, "build_s": built}
    with torch.no_grad():
        for label, fn in (("plain", plain), ("regional", regional), ("repaint", repaint)):
            fn()  # warm-up (kernels, allocator)
            with Peak(args.device) as peak:
                fn()
            row[f"{label}_s_per_step"] = peak.seconds / args.steps
            row[f"{label}_peak_gb"] = peak.bytes / 2**30
    row["ratio"] = row["regional_s_per_step"] / row["plain_s_per_step"]
    backbone = pipe = None  # free the weights before the next model
    gc.collect()
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp16", "fp32"))
    parser.add_argument("--px", type=int, default=None, help="image size (default: each model's own)")
    parser.add_argument("--depth", type=int, default=None,
                        help="keep this many layers per transformer/text encoder (smoke test)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()

    rows, started = [], time.perf_counter()
    for model in args.models:
        try:
            rows.append(check(model, args))
        except Exception as exc:  # noqa: BLE001  # one model failing (out of memory, a missing class) leaves the others' rows
            rows.append({"model": model, "error": f"{type(exc).__name__}: {str(exc)[:160]}"})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\nfull-size backbones, random weights, {args.dtype} on {args.device}, {args.steps} steps, "
          f"{args.regions} regions, {time.perf_counter() - started:.0f} s in all")
    print(f"{'model':<16}{'px':>6}{'plain s/step':>14}{'regional s/step':>17}{'ratio':>7}"
          f"{'plain GB':>10}{'regional GB':>13}{'repaint s/step':>16}{'repaint GB':>12}")
    for row in rows:
        if "error" in row:
            print(f"{row['model']:<16} {row['error']}")
            continue
        print(f"{row['model']:<16}{row['px']:>6}{row['plain_s_per_step']:>14.3f}"
              f"{row['regional_s_per_step']:>17.3f}{row['ratio']:>7.2f}{row['plain_peak_gb']:>10.2f}"
              f"{row['regional_peak_gb']:>13.2f}{row['repaint_s_per_step']:>16.3f}{row['repaint_peak_gb']:>12.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
