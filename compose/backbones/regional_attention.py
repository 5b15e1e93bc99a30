"""Regional prompting by attention: each region's prompt tokens reach only the pixels of its box.

Two mechanisms, one per architecture family, sharing the box masks of
:func:`compose.backbones.diffusers_common.exclusive_box_masks` (a cell belongs to the front-most
box containing it):

- **UNets (SD 1.x/2.x, SDXL)**: the text embeddings are segments of equal length, the base prompt
  first and then one per region. :class:`RegionalCrossAttnProcessor` replaces every
  cross-attention processor: each pixel attends to each segment separately (its own softmax) and
  the results are blended with per-pixel weights — inside region *r*'s box ``base_ratio`` of the
  base prompt and ``1 - base_ratio`` of region *r*; outside every box the base prompt alone. The
  weights are built at every attention resolution from the boxes, not by resizing one mask.
- **MMDiTs (SD3, FLUX)**: text and image tokens share one attention. :func:`joint_attention_mask`
  is an additive mask over the joint sequence: image tokens see every image token, the base
  prompt everywhere (scaled by ``base_ratio`` inside boxes) and a region's tokens only inside its
  box; a region's tokens see only their own segment and their box. FLUX takes it through
  ``joint_attention_kwargs={"attention_mask": mask}``; SD3's processor ignores masks, so
  :class:`SD3RegionalJointAttnProcessor` applies it.

:func:`swapped_processors` installs processors for one call and always restores the originals.

Examples
--------
>>> from compose.layouts import Layout
>>> lay = Layout(canvas=(64, 64), boxes={"a": (0.0, 0.0, 0.5, 1.0)})
>>> w = blend_weights(lay, ["a"], 2, 2, base_ratio=0.25)   # rows: base, region a
>>> w.tolist()
[[0.25, 1.0, 0.25, 1.0], [0.75, 0.0, 0.75, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from compose.backbones.diffusers_common import exclusive_box_masks, grid_for_tokens

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from compose.layouts import Layout


def blend_weights(layout: Layout, instances: list[str], grid_h: int, grid_w: int,
                  base_ratio: float) -> torch.Tensor:
    """Per-pixel weights ``(1 + len(instances), grid_h * grid_w)`` of the base prompt and of each
    region's prompt; every column sums to 1."""
    import torch

    masks = torch.from_numpy(exclusive_box_masks(layout, instances, grid_h, grid_w)).float()
    masks = masks.reshape(len(instances), grid_h * grid_w)
    covered = masks.sum(0).clamp(max=1.0)
    base = 1.0 - covered * (1.0 - base_ratio)
    return torch.cat([base[None], masks * (1.0 - base_ratio)], dim=0)


class RegionalCrossAttnProcessor:
    """Cross-attention over segmented prompts, blended per pixel (see the module docstring).

    Parameters
    ----------
    layout, instances
        The boxes, and the instance of each region segment in order (segment 0 is the base).
    latent_size : (height, width)
        The latent grid; attention resolutions are found from the number of query tokens.
    segment_length : int
        Tokens per segment (77 for CLIP).
    base_ratio : float
        Share of the base prompt inside boxes.
    capture : list, optional
        When a list, every call appends ``(grid, probs)`` with the effective attention
        probabilities ``(batch, heads, pixels, segments * segment_length)`` computed explicitly,
        for tests of the mechanism (slow; off in use).
    """

    def __init__(self, layout: Layout, instances: list[str], latent_size: tuple[int, int],
                 segment_length: int, base_ratio: float, capture: list | None = None) -> None:
        self.layout = layout
        self.instances = list(instances)
        self.latent_size = latent_size
        self.segment_length = segment_length
        self.base_ratio = float(base_ratio)
        self.capture = capture
        self._weights: dict[tuple, tuple[tuple[int, int], torch.Tensor, list]] = {}

    def weights(self, tokens: int, device: Any = None, dtype: Any = None
                ) -> tuple[tuple[int, int], torch.Tensor, list]:
        """``(grid, weights (segments, tokens), pixels)`` for ``tokens`` image tokens, where
        ``pixels[s]`` is ``None`` when segment ``s`` has weight everywhere, else the indices of the
        pixels where it has any (each segment is attended only where it counts)."""
        key = (tokens, str(device), str(dtype))
        if key not in self._weights:
            grid = grid_for_tokens(tokens, *self.latent_size)
            weights = blend_weights(self.layout, self.instances, *grid, self.base_ratio)
            pixels = [None if bool((w > 0).all()) else (w > 0).nonzero().flatten().to(device)
                      for w in weights]
            self._weights[key] = (grid, weights.to(device=device, dtype=dtype), pixels)
        return self._weights[key]

    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        batch, pixels, _ = hidden_states.shape
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query = attn.to_q(hidden_states)
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        grid, weights, where = self.weights(pixels, query.device, query.dtype)
        segments = key.shape[2] // self.segment_length
        if segments != weights.shape[0]:
            raise ValueError(f"{key.shape[2]} text tokens are not {weights.shape[0]} segments of "
                             f"{self.segment_length}")
        L = self.segment_length
        out = None
        for s in range(segments):
            k, v = key[:, :, s * L:(s + 1) * L], value[:, :, s * L:(s + 1) * L]
            if where[s] is None:  # everywhere: no gathering
                part = F.scaled_dot_product_attention(query, k, v) * weights[s][None, None, :, None]
                out = part if out is None else out + part
                continue
            if where[s].numel() == 0:
                continue
            q = query.index_select(2, where[s])
            part = F.scaled_dot_product_attention(q, k, v) * weights[s][where[s]][None, None, :, None]
            if out is None:
                out = torch.zeros_like(query)
            out = out.index_add(2, where[s], part)
        if self.capture is not None:
            probs = [torch.softmax(query @ key[:, :, s * L:(s + 1) * L].transpose(-1, -2) * attn.scale,
                                   dim=-1) * weights[s][None, None, :, None] for s in range(segments)]
            self.capture.append((grid, torch.cat(probs, dim=-1).detach()))

        hidden_states = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def joint_attention_mask(layout: Layout, instances: list[str], grid: tuple[int, int],
                         segment_lengths: list[int], base_ratio: float, *, text_first: bool,
                         dtype: Any = None, device: Any = None) -> torch.Tensor:
    """The additive mask ``(1, 1, T, T)`` over a joint sequence of text segments (base first, then
    one per region) and ``grid[0] * grid[1]`` image tokens; ``text_first`` orders the sequence
    text then image (FLUX) or image then text (SD3). 0 allows, ``-inf`` forbids, and the base
    prompt's tokens get ``log(base_ratio)`` from pixels inside boxes.

    >>> from compose.layouts import Layout
    >>> lay = Layout(canvas=(8, 8), boxes={"a": (0.0, 0.0, 0.5, 1.0)})
    >>> m = joint_attention_mask(lay, ["a"], (1, 2), [1, 1], 1.0, text_first=True)
    >>> m[0, 0].tolist()   # tokens: base, region a, pixel left (in box), pixel right
    [[0.0, -inf, 0.0, 0.0], [-inf, 0.0, 0.0, -inf], [0.0, 0.0, 0.0, 0.0], [0.0, -inf, 0.0, 0.0]]
    """
    import torch

    gh, gw = grid
    pixels = gh * gw
    masks = torch.from_numpy(exclusive_box_masks(layout, instances, gh, gw)).reshape(len(instances), pixels)
    covered = masks.any(0)
    text = sum(segment_lengths)
    neg = float("-inf")
    base_bias = math.log(base_ratio) if base_ratio > 0 else neg
    t0 = 0 if text_first else pixels  # where the text and the image blocks start
    i0 = text if text_first else 0
    img = slice(i0, i0 + pixels)
    mask = torch.full((text + pixels, text + pixels), neg, dtype=dtype or torch.float32, device=device)
    mask[img, img] = 0.0
    start = t0
    for s, length in enumerate(segment_lengths):
        seg = slice(start, start + length)
        mask[seg, seg] = 0.0
        if s == 0:
            mask[seg, img] = 0.0
            col = torch.where(covered, base_bias, 0.0)
        else:
            col = torch.where(masks[s - 1], 0.0, neg)
            mask[seg, img] = col[None, :].to(mask)
        mask[img, seg] = col[:, None].to(mask)
        start += length
    return mask[None, None]


class SD3RegionalJointAttnProcessor:
    """diffusers' ``JointAttnProcessor2_0`` with the joint attention mask applied (SD3's own
    processor drops ``attention_mask``). Image-only attention (SD3.5's second attention) is left
    unmasked. ``capture`` as in :class:`RegionalCrossAttnProcessor`."""

    def __init__(self, capture: list | None = None) -> None:
        self.capture = capture

    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        residual = hidden_states
        batch = hidden_states.shape[0]
        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query, key, value = (t.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
                             for t in (query, key, value))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if encoder_hidden_states is not None:
            eq, ek, ev = (proj(encoder_hidden_states).view(batch, -1, attn.heads, head_dim).transpose(1, 2)
                          for proj in (attn.add_q_proj, attn.add_k_proj, attn.add_v_proj))
            if attn.norm_added_q is not None:
                eq = attn.norm_added_q(eq)
            if attn.norm_added_k is not None:
                ek = attn.norm_added_k(ek)
            query, key, value = (torch.cat([a, b], dim=2) for a, b in ((query, eq), (key, ek), (value, ev)))
        else:
            attention_mask = None
        if attention_mask is not None:
            attention_mask = attention_mask.to(query.dtype)
            if self.capture is not None:
                scores = query @ key.transpose(-1, -2) * attn.scale + attention_mask
                self.capture.append(torch.softmax(scores, dim=-1).detach())
        hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim)
        hidden_states = hidden_states.to(query.dtype)
        if encoder_hidden_states is not None:
            hidden_states, encoder_hidden_states = (hidden_states[:, : residual.shape[1]],
                                                    hidden_states[:, residual.shape[1]:])
            if not attn.context_pre_only:
                encoder_hidden_states = attn.to_add_out(encoder_hidden_states)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if encoder_hidden_states is not None:
            return hidden_states, encoder_hidden_states
        return hidden_states


@contextmanager
def swapped_processors(model: Any, replace: Callable[[str, Any], Any | None]) -> Iterator[dict]:
    """Install ``replace(name, original)`` (or keep the original where it returns ``None``) on every
    attention module of ``model`` for the ``with`` block; the original processors are back
    afterwards, also when the block raises."""
    original = dict(model.attn_processors)
    installed = {}
    for name, proc in original.items():
        new = replace(name, proc)
        installed[name] = proc if new is None else new
    model.set_attn_processor(dict(installed))
    try:
        yield installed
    finally:
        model.set_attn_processor(dict(original))


def is_cross_attention(name: str) -> bool:
    """Cross-attention processors of diffusers' UNets are named ``...attn2.processor``."""
    return name.endswith("attn2.processor")
