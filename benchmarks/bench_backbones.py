"""Overhead of regional conditioning against the plain pipeline, per architecture, in one run.

Run: python benchmarks/bench_backbones.py [--size small|full] [--arch sd sdxl sd3 flux]
                                          [--steps N] [--repeats N] [--regions N] [--device D]

For each architecture the components are built from configs with random weights (so no download
is needed), saved to a temporary folder and loaded by the backbone exactly as users' checkpoints
are. Each repeat renders the same image twice, alternating the order: once through the plain
diffusers pipeline (the base prompt, original attention processors) and once through the
regional backbone (a layout of ``--regions`` boxes), same size, steps, guidance and seed. The
table gives the median seconds per image of each (wall clock, and process CPU time on CPU, which
other jobs on a shared machine disturb less) and their ratio (target: at most 1.15).

``--size small`` (default) uses narrow, shallow configs that run on a CPU in minutes, at sizes
where the token counts are the full-size ones (SD and SDXL: a 64 x 64 latent; SD3 and FLUX: 4096
image tokens, 256 and 512 T5 tokens; FLUX.2 klein-shaped and Qwen-Image: 4096 image tokens,
512 text tokens for FLUX.2), so that the regional share of the work is comparable. ``--size full`` uses
the full-size architectures (SD 1.5, SDXL base, SD 3.5 medium, FLUX.1-dev; fp16 on ``cuda``) and
needs a large GPU; random weights make timings representative but the images meaningless.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["a", "red", "blue", "green", "cube", "ball", "cat", "dog", "on", "left", "of", "right", "the", "photo", "table", "room"]


def _bytes_to_unicode() -> list[str]:
    """GPT-2's printable stand-in for each byte, in byte order (the alphabet of a byte-level BPE)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def clip_tokenizer(folder: Path):
    """A byte-level BPE tokenizer from a written vocab and merges (random weights need no real one)."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = []
    for word in WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            vocab.setdefault(pieces[0] + pieces[1], len(vocab))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n",
                                       encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def t5_tokenizer():
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + w, -1.0) for w in WORDS] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz,."]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def clip(vocab: int, hidden: int, layers: int, heads: int, projection: int | None = None):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=max(vocab, 49408 if hidden >= 768 else vocab), hidden_size=hidden,
                            intermediate_size=hidden * 4, num_hidden_layers=layers,
                            num_attention_heads=heads, projection_dim=projection or hidden,
                            bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=1)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def t5(vocab: int, d_model: int, layers: int, heads: int, d_ff: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=max(vocab, 32128 if d_model >= 4096 else vocab),
                                   d_model=d_model, d_kv=64 if d_model >= 4096 else d_model // heads,
                                   d_ff=d_ff, num_layers=layers, num_heads=heads,
                                   feed_forward_proj="gated-gelu" if d_model >= 4096 else "relu")).eval()


def vae(full: bool, channels: int, **extra):
    from diffusers import AutoencoderKL

    blocks = [128, 256, 512, 512] if full else [16, 32, 64]
    return AutoencoderKL(block_out_channels=blocks, latent_channels=channels,
                         down_block_types=["DownEncoderBlock2D"] * len(blocks),
                         up_block_types=["UpDecoderBlock2D"] * len(blocks),
                         norm_num_groups=32 if full else 8, **extra).eval()


def on_cpu(scheduler_class, **config):
    """Schedulers keep numpy-backed state: build them on the CPU whatever the default device."""
    import torch

    with torch.device("cpu"):
        return scheduler_class(**config)


def build(arch: str, full: bool, folder: Path) -> int:
    """Save an ``arch`` pipeline with random weights to ``folder``; return the image size."""
    import diffusers

    tok = clip_tokenizer(folder / "_tok")
    n = len(tok)
    if arch == "sd":
        unet = diffusers.UNet2DConditionModel(
            **({"cross_attention_dim": 768} if full else {
                "block_out_channels": (32, 64, 64), "layers_per_block": 1, "cross_attention_dim": 64,
                "attention_head_dim": 8, "norm_num_groups": 8,
                "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")}))
        pipe = diffusers.StableDiffusionPipeline(
            vae=vae(full, 4), text_encoder=clip(n, 768 if full else 64, 12 if full else 2, 12 if full else 4),
            tokenizer=tok, unet=unet, scheduler=on_cpu(diffusers.DDIMScheduler), safety_checker=None,
            feature_extractor=None, requires_safety_checker=False)
        size = 512 if full else 256  # SD 1.5's latent grid (64 x 64) either way
    elif arch == "sdxl":
        unet = diffusers.UNet2DConditionModel(
            block_out_channels=(320, 640, 1280) if full else (32, 64, 64), layers_per_block=2 if full else 1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10) if full else (1, 1, 1),
            attention_head_dim=(5, 10, 20) if full else 8, cross_attention_dim=2048 if full else 128,
            addition_embed_type="text_time", addition_time_embed_dim=256 if full else 8,
            projection_class_embeddings_input_dim=(1280 + 6 * 256) if full else (64 + 6 * 8),
            use_linear_projection=True, norm_num_groups=32 if full else 8)
        pipe = diffusers.StableDiffusionXLPipeline(
            vae=vae(full, 4), text_encoder=clip(n, 768 if full else 64, 12 if full else 2, 12 if full else 4),
            text_encoder_2=clip(n, 1280 if full else 64, 32 if full else 2, 20 if full else 4,
                                projection=1280 if full else 64),
            tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=on_cpu(diffusers.EulerDiscreteScheduler))
        size = 1024 if full else 256
    elif arch == "sd3":
        transformer = diffusers.SD3Transformer2DModel(
            **({"sample_size": 128, "patch_size": 2, "in_channels": 16, "num_layers": 24, "attention_head_dim": 64,
                    "num_attention_heads": 24, "joint_attention_dim": 4096, "caption_projection_dim": 1536,
                    "pooled_projection_dim": 2048, "out_channels": 16, "pos_embed_max_size": 384,
                    "dual_attention_layers": tuple(range(13)), "qk_norm": "rms_norm"} if full else
               {"sample_size": 32, "patch_size": 2, "in_channels": 16, "num_layers": 4, "attention_head_dim": 16,
                    "num_attention_heads": 4, "joint_attention_dim": 64, "caption_projection_dim": 64,
                    "pooled_projection_dim": 128, "out_channels": 16, "pos_embed_max_size": 64}))
        t5tok = t5_tokenizer()
        pipe = diffusers.StableDiffusion3Pipeline(
            transformer=transformer, scheduler=on_cpu(diffusers.FlowMatchEulerDiscreteScheduler, shift=3.0),
            vae=vae(full, 16, shift_factor=0.0609, scaling_factor=1.5035),
            text_encoder=clip(n, 768 if full else 64, 12 if full else 2, 12 if full else 4, projection=768 if full else 64),
            text_encoder_2=clip(n, 1280 if full else 64, 32 if full else 2, 20 if full else 4,
                                projection=1280 if full else 64),
            text_encoder_3=t5(len(t5tok), 4096 if full else 64, 24 if full else 2, 64 if full else 4,
                              10240 if full else 128),
            tokenizer=tok, tokenizer_2=tok, tokenizer_3=t5tok)
        size = 1024 if full else 512  # 4096 image tokens either way, as at 1024 px
    elif arch == "flux":
        transformer = diffusers.FluxTransformer2DModel(
            **({"guidance_embeds": True} if full else {
                "patch_size": 1, "in_channels": 64, "num_layers": 2, "num_single_layers": 4, "attention_head_dim": 16,
                "num_attention_heads": 4, "joint_attention_dim": 64, "pooled_projection_dim": 64,
                "axes_dims_rope": [4, 6, 6], "guidance_embeds": True}))
        t5tok = t5_tokenizer()
        pipe = diffusers.FluxPipeline(
            transformer=transformer,
            scheduler=on_cpu(diffusers.FlowMatchEulerDiscreteScheduler, use_dynamic_shifting=True,
                             shift=3.0),
            vae=vae(full, 16, shift_factor=0.1159, scaling_factor=0.3611),
            text_encoder=clip(n, 768 if full else 64, 12 if full else 2, 12 if full else 4),
            text_encoder_2=t5(len(t5tok), 4096 if full else 64, 24 if full else 2, 64 if full else 4,
                              10240 if full else 128),
            tokenizer=tok, tokenizer_2=t5tok)
        size = 1024 if full else 512  # 4096 image tokens either way, as at 1024 px
    elif arch in ("flux2", "qwen") and full:
        raise SystemExit(f"--size full for {arch}: run benchmarks/gpu_check.py (the weights are "
                         "too large to save to disk first)")
    elif arch == "flux2":  # klein-shaped: a Qwen3 text encoder, 3 hidden layers stacked
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from helpers.tiny_diffusers import qwen_tokenizer
        from transformers import Qwen3Config, Qwen3ForCausalLM

        qtok = qwen_tokenizer(folder / "_qtok", chat=True)
        text = Qwen3ForCausalLM(Qwen3Config(vocab_size=len(qtok), hidden_size=64, intermediate_size=128,
                                            num_hidden_layers=3, num_attention_heads=4,
                                            num_key_value_heads=2, head_dim=16,
                                            max_position_embeddings=1024)).eval()
        transformer = diffusers.Flux2Transformer2DModel(
            patch_size=1, in_channels=64, num_layers=2, num_single_layers=4, attention_head_dim=16,
            num_attention_heads=4, joint_attention_dim=192, timestep_guidance_channels=64,
            axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False)
        flux2_vae = diffusers.AutoencoderKLFlux2(
            block_out_channels=(16, 32, 64), down_block_types=("DownEncoderBlock2D",) * 3,
            up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=16, norm_num_groups=8,
            layers_per_block=1).eval()
        pipe = diffusers.Flux2KleinPipeline(
            scheduler=on_cpu(diffusers.FlowMatchEulerDiscreteScheduler, use_dynamic_shifting=True, shift=3.0),
            vae=flux2_vae, text_encoder=text, tokenizer=qtok, transformer=transformer, is_distilled=False)
        size = 512  # 4096 image tokens, as at 1024 px
    elif arch == "qwen":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from helpers.tiny_diffusers import qwen_tokenizer
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        qtok = qwen_tokenizer(folder / "_qtok")
        n = len(qtok)
        config = Qwen2_5_VLConfig(
            text_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": n,
                             "rope_scaling": {"mrope_section": [2, 3, 3], "rope_type": "default",
                                           "type": "default"}, "bos_token_id": None, "eos_token_id": n - 1},
            vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 64},
            vocab_size=n, vision_start_token_id=n - 3, vision_end_token_id=n - 2, vision_token_id=n - 1,
            image_token_id=n - 1, video_token_id=n - 1, bos_token_id=None, eos_token_id=n - 1)
        transformer = diffusers.QwenImageTransformer2DModel(
            patch_size=2, in_channels=64, out_channels=16, num_layers=6, attention_head_dim=16,
            num_attention_heads=4, joint_attention_dim=64, axes_dims_rope=(4, 6, 6))
        qwen_vae = diffusers.AutoencoderKLQwenImage(base_dim=16, z_dim=16, dim_mult=[1, 2, 4],
                                                    num_res_blocks=1, temperal_downsample=[False, True])
        pipe = diffusers.QwenImagePipeline(
            scheduler=on_cpu(diffusers.FlowMatchEulerDiscreteScheduler, use_dynamic_shifting=True, shift=3.0),
            vae=qwen_vae, text_encoder=Qwen2_5_VLForConditionalGeneration(config).eval(), tokenizer=qtok,
            transformer=transformer)
        size = 512  # 4096 image tokens, as at 1024 px
    else:
        raise SystemExit(f"unknown architecture {arch!r}")
    pipe.save_pretrained(folder)
    return size


def layout(size: int, regions: int):
    from compose.layouts import Layout, Region

    names = ["a red cube", "a blue ball", "a green cat", "a red dog", "a blue table", "a green ball"]
    boxes, objects = {}, {}
    for i in range(regions):
        x0 = i / (regions + 1)
        boxes[f"o#{i}"] = (x0, 0.2, min(1.0, x0 + 2 / (regions + 1)), 0.8)
        objects[f"o#{i}"] = Region(phrase=names[i % len(names)], z=i, **{"class": "thing"})
    return Layout(canvas=(size, size), boxes=boxes, objects=objects, background="a room")


class PeakMemory:
    """Peak memory of a block above its start: CUDA's allocator peak on a GPU, else the C heap in
    use (glibc ``mallinfo2``: torch's CPU tensors live there) sampled every millisecond by a
    thread (torch releases the GIL in its kernels)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak = 0

    @staticmethod
    def _heap() -> int:
        import ctypes

        class Info(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                       "usmblks", "fsmblks", "uordblks", "fordblks",
                                                       "keepcost")]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = Info
        info = libc.mallinfo2()
        return int(info.uordblks + info.hblkhd)

    def __enter__(self):
        import threading

        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            return self
        self.start = self._heap()
        self.high = self.start
        self.stop = threading.Event()

        def watch():
            while not self.stop.is_set():
                self.high = max(self.high, self._heap())
                self.stop.wait(0.001)

        self.thread = threading.Thread(target=watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.start
        else:
            self.stop.set()
            self.thread.join()
            self.peak = max(self.high, self._heap()) - self.start
        return False


def time_pair(backbone, lay, size: int, options: dict, steps: int, repeats: int,
              device: str) -> dict[str, list[tuple[float, float, int]]]:
    """(wall s, process CPU s, peak bytes) of the plain pipeline and of the regional backbone, per
    repeat, alternating which goes first; one warm-up each."""
    import torch

    from compose.backbones.conditioning import layout_prompts

    prompt = layout_prompts(lay).base
    guidance = backbone.options.get("guidance", 1.0)
    # Qwen-Image: the plain pipeline without a negative prompt guides nothing; so does the backbone
    # at guidance 1
    regional_guidance = 1.0 if backbone.name == "qwen-image-regional" else None
    plain_options = dict(options)
    if backbone.name != "qwen-image-regional":
        plain_options["guidance_scale"] = guidance
    else:
        plain_options["true_cfg_scale"] = 1.0
    if backbone.name == "flux2-regional":
        plain_options["text_encoder_out_layers"] = tuple(backbone.options["text_encoder_out_layers"])

    def plain():
        backbone.pipe(prompt=prompt, height=size, width=size, num_inference_steps=steps,
                      generator=torch.Generator(device).manual_seed(0), **plain_options)

    def regional():
        backbone.render([lay], seeds=[0], steps=steps, guidance=regional_guidance)

    timings: dict[str, list[tuple[float, float, int]]] = {"plain": [], "regional": []}
    plain(), regional()  # warm-up
    for r in range(repeats):
        order = (("plain", plain), ("regional", regional))
        for label, fn in order if r % 2 == 0 else order[::-1]:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            with PeakMemory(device) as memory:
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            timings[label].append((wall, cpu, memory.peak))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--arch", nargs="+", default=["sd", "sdxl", "sd3", "flux", "flux2", "qwen"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: steadier figures on a shared machine)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from compose.backbones import get_backbone

    full = args.size == "full"
    device = args.device or ("cuda" if full else "cpu")
    dtype = "fp16" if device.startswith("cuda") else "fp32"
    names = {"sd": "sd-regional", "sdxl": "sdxl-regional", "sd3": "sd3-regional", "flux": "flux-regional",
             "flux2": "flux2-regional", "qwen": "qwen-image-regional"}
    rows = []
    for arch in args.arch:
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(0)
            default_dtype = torch.get_default_dtype()
            if full:  # full-size weights are built on the GPU in bf16 (FLUX + T5 are ~17 B params)
                torch.set_default_dtype(torch.bfloat16)
            try:
                with torch.device(device if full else "cpu"):
                    size = build(arch, full, Path(tmp))
            finally:
                torch.set_default_dtype(default_dtype)
            # the real text lengths (SD3 256, FLUX 512 T5 tokens), so text and image tokens keep
            # their full-size proportions in the joint attention at either size
            options = ({"max_sequence_length": {"sd3": 256, "flux": 512, "flux2": 512}[arch]}
                       if arch in ("sd3", "flux", "flux2") else {})
            extra = {"text_encoder_out_layers": [1, 2, 3]} if arch == "flux2" else {}
            backbone = get_backbone(names[arch], model=tmp, device=device, dtype=dtype, **options, **extra)
            lay = layout(size, args.regions)
            timings = time_pair(backbone, lay, size, options, args.steps, args.repeats, device)
            med = {k: (statistics.median(w for w, _, _ in v), statistics.median(c for _, c, _ in v),
                       max(m for _, _, m in v)) for k, v in timings.items()}
            rows.append({"arch": arch, "backbone": names[arch], "size": size, "steps": args.steps,
                         "regions": args.regions, "device": device, "dtype": dtype,
                         "plain_s": med["plain"][0], "regional_s": med["regional"][0],
                         "ratio_wall": med["regional"][0] / med["plain"][0],
                         "plain_cpu_s": med["plain"][1], "regional_cpu_s": med["regional"][1],
                         "ratio_cpu": med["regional"][1] / med["plain"][1],
                         "plain_peak_mb": med["plain"][2] / 2**20,
                         "regional_peak_mb": med["regional"][2] / 2**20})
            backbone = None
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    print(f"regional overhead, {args.size} configs, {args.steps} steps, {args.regions} regions, "
          f"median of {args.repeats}, {args.threads} CPU thread(s) (target ratio <= 1.15)")
    print(f"{'backbone':<15}{'px':>6}{'plain s':>10}{'regional s':>12}{'ratio':>8}"
          f"{'plain cpu s':>13}{'regional cpu s':>16}{'ratio cpu':>11}{'plain MB':>10}{'regional MB':>13}")
    for row in rows:
        print(f"{row['backbone']:<15}{row['size']:>6}{row['plain_s']:>10.3f}{row['regional_s']:>12.3f}"
              f"{row['ratio_wall']:>8.2f}{row['plain_cpu_s']:>13.3f}{row['regional_cpu_s']:>16.3f}"
              f"{row['ratio_cpu']:>11.2f}{row['plain_peak_mb']:>10.0f}{row['regional_peak_mb']:>13.0f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
