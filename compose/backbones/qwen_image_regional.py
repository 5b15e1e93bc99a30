"""``qwen-image-regional``: training-free region prompts for Qwen-Image (MMDiT, 20 B).

Qwen-Image attends over one joint sequence, text tokens first and image tokens after. The text is
one segment for the whole image (every phrase, the background and the style) and one per region,
each encoded alone by Qwen2.5-VL as the pipeline encodes a prompt. A region's tokens and the
pixels of its box see each other and nothing else of the image; every pixel sees the base prompt
(its weight scaled by ``base_ratio`` inside boxes); segments do not see each other. Qwen-Image's
own processor refuses an external attention mask, so every attention gets
:class:`QwenRegionalAttnProcessor` for the call (restored afterwards, also on error), which
computes one attention per region group
(:class:`~compose.backbones.regional_attention.AttentionPlan`) and honours the pipeline's text
padding mask by leaving padded keys out of the groups.

Qwen-Image places text rotary positions after the image's; every segment restarts there, so a
region's tokens stand to the image as a prompt of their own would. Negative prompts apply with
``true_cfg > 1`` (Qwen-Image's true classifier-free guidance, two passes), each region with its
own negative; the negative segments are padded to the positive ones' lengths so one plan serves
both passes.

Needs ``transformers`` and a diffusers-format Qwen-Image folder (or a repo id in the local HF
cache). Qwen-Image 2.1 (``QwenImage21Pipeline``: a Qwen3-VL encoder and block-causal attention)
is a different architecture and is not supported here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from compose.backbones.base import RenderResult, check_strength, paste_outside
from compose.backbones.conditioning import layout_prompts, render_size
from compose.backbones.diffusers_base import DiffusersBackbone, generator
from compose.backbones.sampling import FlowMatchSampling, mask_to_latent, repaint_size

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

    from compose.backbones.regional_attention import AttentionPlan
    from compose.layouts import Layout

DEFAULTS: dict[str, Any] = {
    "model": "Qwen/Qwen-Image", "device": None, "dtype": None, "attention_slicing": False,
    "cpu_offload": None, "base_ratio": 0.3, "true_cfg": 4.0, "steps": 50, "resolution": None,
    "progress": False, "max_sequence_length": 512, "region_sequence_length": 64,
}


# Copied from diffusers.pipelines.qwenimage.pipeline_qwenimage.QwenImagePipeline._pack_latents
def pack_latents(latents: torch.Tensor, batch_size: int, num_channels_latents: int, height: int,
                 width: int) -> torch.Tensor:
    latents = latents.view(batch_size, num_channels_latents, height // 2, 2, width // 2, 2)
    latents = latents.permute(0, 2, 4, 1, 3, 5)
    return latents.reshape(batch_size, (height // 2) * (width // 2), num_channels_latents * 4)


# Copied from diffusers.pipelines.qwenimage.pipeline_qwenimage.QwenImagePipeline._unpack_latents
def unpack_latents(latents: torch.Tensor, height: int, width: int, vae_scale_factor: int) -> torch.Tensor:
    batch_size, _num_patches, channels = latents.shape
    height = 2 * (int(height) // (vae_scale_factor * 2))
    width = 2 * (int(width) // (vae_scale_factor * 2))
    latents = latents.view(batch_size, height // 2, width // 2, channels // 4, 2, 2)
    latents = latents.permute(0, 3, 1, 4, 2, 5)
    return latents.reshape(batch_size, channels // (2 * 2), 1, height, width)


# Copied from diffusers.pipelines.qwenimage.pipeline_qwenimage.calculate_shift
def calculate_shift(image_seq_len: int, base_seq_len: int = 256, max_seq_len: int = 4096,
                    base_shift: float = 0.5, max_shift: float = 1.15) -> float:
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    return image_seq_len * m + b


class QwenRegionalAttnProcessor:
    """diffusers' ``QwenDoubleStreamAttnProcessor2_0`` with the joint attention split by region
    groups, the text rotary positions restarted per segment and the text padding mask applied by
    leaving padded keys out. ``capture`` as in
    :func:`~compose.backbones.regional_attention.grouped_attention`."""

    def __init__(self, plan: AttentionPlan, capture: list | None = None) -> None:
        self.plan = plan
        self.capture = capture
        self._padded: dict[bytes, AttentionPlan] = {}
        self._rotary: tuple[Any, Any] | None = None

    def plan_for(self, mask: torch.Tensor | None) -> list[AttentionPlan]:
        """One plan per batch item: the plan, less the padded keys of that item's text."""
        import torch

        if mask is None:
            return [self.plan]
        plans = []
        for row in mask.to(torch.bool):
            key = row.cpu().numpy().tobytes()
            if key not in self._padded:
                valid = torch.ones(self.plan.length, dtype=torch.bool)
                valid[: row.shape[0]] = row.cpu()
                self._padded[key] = self.plan.keep_keys(valid)
            plans.append(self._padded[key])
        return plans

    def text_rotary(self, txt_freqs: torch.Tensor) -> torch.Tensor:
        import torch

        key = (txt_freqs.data_ptr(), tuple(txt_freqs.shape))
        if self._rotary is None or self._rotary[0] != key:
            rows = torch.cat([torch.arange(n, device=txt_freqs.device) for n in self.plan.segment_lengths])
            self._rotary = (key, txt_freqs.index_select(0, rows))
        return self._rotary[1]

    # Copied from diffusers.models.transformers.transformer_qwenimage.QwenDoubleStreamAttnProcessor2_0.__call__
    # (dispatch_attention_fn replaced by grouped attention; text rotary restarted per segment)
    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None,
                 encoder_hidden_states_mask: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        import torch
        from diffusers.models.transformers.transformer_qwenimage import apply_rotary_emb_qwen

        from compose.backbones.regional_attention import grouped_attention

        if encoder_hidden_states is None or attention_mask is not None:
            raise ValueError("the regional Qwen-Image processor needs the text stream and takes no "
                             "attention_mask")
        seq_txt = encoder_hidden_states.shape[1]
        if seq_txt + hidden_states.shape[1] != self.plan.length:
            raise ValueError(f"the joint sequence has {seq_txt + hidden_states.shape[1]} tokens; "
                             f"the regional plan was made for {self.plan.length}")
        head_dim = attn.inner_dim // attn.heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (-1, head_dim))

        img_query, img_key, img_value = (heads(p(hidden_states)) for p in (attn.to_q, attn.to_k, attn.to_v))
        txt_query, txt_key, txt_value = (heads(p(encoder_hidden_states))
                                         for p in (attn.add_q_proj, attn.add_k_proj, attn.add_v_proj))
        if attn.norm_q is not None:
            img_query = attn.norm_q(img_query)
        if attn.norm_k is not None:
            img_key = attn.norm_k(img_key)
        if attn.norm_added_q is not None:
            txt_query = attn.norm_added_q(txt_query)
        if attn.norm_added_k is not None:
            txt_key = attn.norm_added_k(txt_key)
        if image_rotary_emb is not None:
            img_freqs, txt_freqs = image_rotary_emb
            txt_freqs = self.text_rotary(txt_freqs)
            img_query = apply_rotary_emb_qwen(img_query, img_freqs, use_real=False)
            img_key = apply_rotary_emb_qwen(img_key, img_freqs, use_real=False)
            txt_query = apply_rotary_emb_qwen(txt_query, txt_freqs, use_real=False)
            txt_key = apply_rotary_emb_qwen(txt_key, txt_freqs, use_real=False)
        joint_query = torch.cat([txt_query, img_query], dim=1).transpose(1, 2)
        joint_key = torch.cat([txt_key, img_key], dim=1).transpose(1, 2)
        joint_value = torch.cat([txt_value, img_value], dim=1).transpose(1, 2)
        plans = self.plan_for(encoder_hidden_states_mask)
        if len(plans) == 1 or all(p is plans[0] for p in plans):
            out = grouped_attention(joint_query, joint_key, joint_value, plans[0], capture=self.capture)
        else:  # batch items padded differently
            out = torch.cat([grouped_attention(joint_query[i:i + 1], joint_key[i:i + 1],
                                               joint_value[i:i + 1], p, capture=self.capture)
                             for i, p in enumerate(plans)])
        joint_hidden_states = out.transpose(1, 2).flatten(2, 3).to(joint_query.dtype)
        txt_attn_output = joint_hidden_states[:, :seq_txt, :]
        img_attn_output = joint_hidden_states[:, seq_txt:, :]
        img_attn_output = attn.to_out[0](img_attn_output.contiguous())
        if len(attn.to_out) > 1:
            img_attn_output = attn.to_out[1](img_attn_output)
        txt_attn_output = attn.to_add_out(txt_attn_output.contiguous())
        return img_attn_output, txt_attn_output


class QwenImageRegionalBackbone(DiffusersBackbone):
    """Regional prompting for Qwen-Image through grouped joint attention (see the module
    docstring).

    Parameters
    ----------
    model, device, dtype, attention_slicing, cpu_offload, steps, resolution, config
        As for every diffusers backbone (see ``docs/backbones.md``).
    base_ratio : float
        Weight of the base prompt's tokens inside boxes, in [0, 1].
    true_cfg : float
        Qwen-Image's true classifier-free guidance scale (``guidance`` of :meth:`render` overrides
        it); above 1 the negative prompts are used.
    max_sequence_length : int
        At most this many text tokens in the base prompt's segment.
    region_sequence_length : int
        At most this many text tokens in each region's segment.
    """

    name = "qwen-image-regional"
    default_steps = 50
    pipeline_class = "QwenImagePipeline"
    defaults = DEFAULTS

    # ------------------------------------------------------------------ conditioning

    def encode_text(self, text: str, length: int) -> torch.Tensor:
        """One prompt as the pipeline encodes it, unpadded, at most ``length`` tokens:
        ``(tokens, dim)``."""
        embeds, _ = self.pipe.encode_prompt(prompt=[text], device=self.pipe._execution_device,
                                            max_sequence_length=length)
        return embeds[0]

    def encode_layout(self, layout: Layout, true_cfg: float) -> dict[str, Any]:
        """Segmented embeddings (base, then one per region) with their padding masks (1 = a real
        token), and the negatives in the same segments when ``true_cfg > 1``."""
        import torch

        prompts = layout_prompts(layout)
        base_length = int(self.options["max_sequence_length"])
        region_length = min(int(self.options["region_sequence_length"]), base_length)
        limits = [base_length] + [region_length] * len(prompts.regions)
        cond = [self.encode_text(t, n) for t, n in zip([prompts.base] + prompts.regions, limits)]
        neg = None
        if true_cfg > 1.0:
            neg = [self.encode_text(t, n) for t, n in
                   zip([prompts.negative] + prompts.region_negatives, limits)]
        lengths = [max(c.shape[0], 0 if neg is None else neg[i].shape[0]) for i, c in enumerate(cond)]

        def padded(parts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
            embeds = torch.cat([torch.cat([p, p.new_zeros(n - p.shape[0], p.shape[1])])
                                for p, n in zip(parts, lengths)])[None]
            mask = torch.cat([torch.arange(n, device=p.device) < p.shape[0]
                              for p, n in zip(parts, lengths)])[None].long()
            return embeds, mask

        embeds: dict[str, Any] = {}
        embeds["prompt_embeds"], embeds["prompt_embeds_mask"] = padded(cond)
        if neg is not None:
            embeds["negative_prompt_embeds"], embeds["negative_prompt_embeds_mask"] = padded(neg)
        return {"embeds": embeds, "instances": prompts.instances, "segment_lengths": lengths}

    def attention_plan(self, layout: Layout, cond: dict[str, Any], height: int, width: int):
        """The region groups of the joint attention (the segments first, then the image tokens)."""
        from compose.backbones.regional_attention import joint_attention_plan

        patch = self.pipe.vae_scale_factor * 2  # 2x2 latent patches per token
        return joint_attention_plan(layout, cond["instances"], (height // patch, width // patch),
                                    cond["segment_lengths"], float(self.options["base_ratio"]),
                                    text_first=True, dtype=self.pipe.transformer.dtype,
                                    device=self.pipe._execution_device)

    def regional_processors(self, plan: AttentionPlan):
        """Every attention of the transformer split by region groups, for a ``with`` block."""
        from compose.backbones.regional_attention import swapped_processors

        processor = QwenRegionalAttnProcessor(plan, self.capture)
        return swapped_processors(self.pipe.transformer, lambda name, _: processor)

    # ------------------------------------------------------------------ render

    def render(self, layouts: list[Layout], *, seeds: list[int], steps: int | None = None,
               guidance: float | None = None) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        true_cfg = float(self.options["true_cfg"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, true_cfg)
        images, timings = [], {"encode": 0.0, "denoise": 0.0}
        multiple = self.pipe.vae_scale_factor * 2
        for layout, seed in zip(layouts, seeds):
            # 2. encode the base and region prompts into segments, plan the attention groups
            t0 = time.perf_counter()
            cond = self.encode_layout(layout, true_cfg)
            width, height = render_size(layout, multiple, self.options["resolution"])
            plan = self.attention_plan(layout, cond, height, width)
            timings["encode"] += time.perf_counter() - t0
            # 3. denoise with the regional processors installed (the pipeline's loop, which
            # refuses more than 1024 text tokens), decode
            t0 = time.perf_counter()
            patch = self.pipe.vae_scale_factor * 2
            tokens = self.denoise(cond, plan, (height // patch, width // patch), steps, true_cfg,
                                  generator(seed, self.runtime.device))
            timings["denoise"] += time.perf_counter() - t0
            images.append(self.decode_tokens(tokens, (width, height)))
        # 4. report what was done
        return RenderResult(images=images, seeds=[int(s) for s in seeds], steps=steps,
                            timings=timings, info={"backbone": self.name,
                                                   "model": str(self.options["model"]),
                                                   "true_cfg": true_cfg,
                                                   "base_ratio": self.options["base_ratio"],
                                                   "device": self.runtime.device,
                                                   "dtype": self.runtime.dtype})

    # ------------------------------------------------------------------ repaint

    def noise_predictor(self, cond: dict[str, Any], true_cfg: float, latent_size: tuple[int, int]):
        """``predict(x_t, t)`` on packed latents of an ``h x w`` token grid: the transformer's flow
        prediction (the regional processors must be installed), with Qwen-Image's true guidance
        and its norm rescaling as the pipeline does it."""
        import torch

        embeds = cond["embeds"]
        transformer = self.pipe.transformer
        h, w = latent_size
        img_shapes = [[(1, h, w)]]
        use_cfg = true_cfg > 1.0 and "negative_prompt_embeds" in embeds

        def run(x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, mask: Any) -> torch.Tensor:
            mask = None if mask is None or bool(mask.all()) else mask  # as the pipeline does
            return transformer(hidden_states=x.to(transformer.dtype),
                               timestep=(t / 1000).expand(x.shape[0]).to(x.dtype),
                               encoder_hidden_states=text, encoder_hidden_states_mask=mask,
                               img_shapes=img_shapes, return_dict=False)[0]

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            flow = run(x, t, embeds["prompt_embeds"], embeds["prompt_embeds_mask"])
            if use_cfg:
                neg = run(x, t, embeds["negative_prompt_embeds"], embeds["negative_prompt_embeds_mask"])
                comb = neg + true_cfg * (flow - neg)
                flow = comb * (torch.norm(flow, dim=-1, keepdim=True) / torch.norm(comb, dim=-1, keepdim=True))
            return flow

        return predict

    def denoise(self, cond: dict[str, Any], plan: AttentionPlan, grid: tuple[int, int], steps: int,
                true_cfg: float, gen: Any, known: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Packed latent tokens from noise drawn as the pipeline draws it (``(1, 1, c, 2h, 2w)``,
        packed), through the shared sampler with the pipeline's sigmas and shift; ``known`` and
        ``mask`` (tokens) keep ``known`` where ``mask`` is 0."""
        import torch

        from compose.backbones.sampling import sample

        h, w = grid
        channels = self.pipe.transformer.config.in_channels // 4
        noise = torch.randn((1, 1, channels, 2 * h, 2 * w), generator=gen, device=gen.device,
                            dtype=self.pipe.transformer.dtype)
        x_T = pack_latents(noise, 1, channels, 2 * h, 2 * w)
        config = self.pipe.scheduler.config
        shift = calculate_shift(h * w, config.get("base_image_seq_len", 256),
                                config.get("max_image_seq_len", 4096), config.get("base_shift", 0.5),
                                config.get("max_shift", 1.15))
        scheduler = FlowMatchSampling(self.pipe.scheduler, image_tokens=h * w, flux_sigmas=True,
                                      mu=lambda n: shift)
        if known is not None:
            x_T = x_T.to(known)
        with self.regional_processors(plan), torch.no_grad():
            return sample(self.noise_predictor(cond, true_cfg, (h, w)), scheduler, x_T, steps,
                          known=known, mask=mask, generator=gen, progress=self.runtime.progress)

    def latent_stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        config = self.pipe.vae.config
        mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(like)
        std = torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(like)
        return mean, std

    def encode_tokens(self, image: Image.Image, size: tuple[int, int], gen: Any) -> torch.Tensor:
        """``image`` at ``size`` -> normalised, packed latent tokens ``(1, h * w, 4 * z_dim)``."""
        import numpy as np
        import torch
        from PIL import Image as PILImage

        rgb = image.convert("RGB")
        if rgb.size != tuple(size):
            rgb = rgb.resize(tuple(size), PILImage.BICUBIC)
        pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None, :, None]
        vae = self.pipe.vae
        with torch.no_grad():
            z = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()
        mean, std = self.latent_stats(z)
        z = (z - mean) / std
        return pack_latents(z[:, :, 0], 1, z.shape[1], z.shape[-2], z.shape[-1])

    def decode_tokens(self, tokens: torch.Tensor, size: tuple[int, int]) -> Image.Image:
        import numpy as np
        import torch
        from PIL import Image as PILImage

        vae = self.pipe.vae
        latents = unpack_latents(tokens, size[1], size[0], self.pipe.vae_scale_factor).to(vae.dtype)
        mean, std = self.latent_stats(latents)
        with torch.no_grad():
            pixels = vae.decode(latents * std + mean, return_dict=False)[0][:, :, 0]
        array = ((pixels[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        return PILImage.fromarray(np.ascontiguousarray(array))

    def repaint_one(self, image: Image.Image, mask: Image.Image, layout: Layout, seed: int,
                    steps: int, true_cfg: float) -> dict[str, Any]:
        """One masked re-denoising: ``{"image", "latents", "known", "mask"}`` (tokens; the latents
        equal ``known`` wherever ``mask`` is 0)."""
        cond = self.encode_layout(layout, true_cfg)
        patch = self.pipe.vae_scale_factor * 2
        width, height = repaint_size(image, patch)
        plan = self.attention_plan(layout, cond, height, width)
        h, w = height // patch, width // patch
        gen = generator(seed, self.runtime.device)
        known = self.encode_tokens(image, (width, height), gen).float()
        token_mask = mask_to_latent(mask, h, w).reshape(1, h * w, 1).to(known).expand_as(known).contiguous()
        latents = self.denoise(cond, plan, (h, w), steps, true_cfg, gen, known=known, mask=token_mask)
        decoded = self.decode_tokens(latents, (width, height))
        return {"image": paste_outside(image, decoded, mask), "latents": latents, "known": known,
                "mask": token_mask}

    def repaint(self, images: list[Image.Image], masks: list[Image.Image], layouts: list[Layout], *,
                seeds: list[int], steps: int | None = None, guidance: float | None = None,
                strength: float = 1.0) -> RenderResult:
        steps = self.options["steps"] if steps is None else steps
        true_cfg = float(self.options["true_cfg"] if guidance is None else guidance)
        # 1. check the inputs
        self.check_inputs(layouts, seeds, steps, true_cfg, images=images, masks=masks)
        check_strength(self.name, strength)
        out, t0 = [], time.perf_counter()
        # 2. masked re-denoising of the packed latents with the regional processors, decode, paste back
        for image, mask, layout, seed in zip(images, masks, layouts, seeds):
            out.append(self.repaint_one(image, mask, layout, int(seed), steps, true_cfg)["image"])
        # 3. report what was done
        return RenderResult(images=out, seeds=[int(s) for s in seeds], steps=steps,
                            timings={"denoise": time.perf_counter() - t0},
                            info={"backbone": self.name, "repaint": True,
                                  "model": str(self.options["model"]), "true_cfg": true_cfg})
