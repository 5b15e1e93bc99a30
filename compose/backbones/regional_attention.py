"""Regional prompting by attention: each region's prompt tokens reach only the pixels of its box.

Two mechanisms, one per architecture family, sharing the box masks of
:func:`compose.backbones.conditioning.exclusive_box_masks` (a cell belongs to the front-most
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

from compose.backbones.conditioning import exclusive_box_masks, grid_for_tokens

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


class AttentionPlan:
    """One attention per region group over a joint text + image sequence: the exact result of
    :func:`joint_attention_mask` without a mask over the whole sequence.

    The boxes' exclusive masks partition the image, so queries fall into groups that see the same
    keys: the pixels of region *r* see every pixel, the base prompt and region *r*'s tokens; the
    pixels outside every box and the base prompt's tokens see every pixel and the base prompt;
    region *r*'s tokens see their own segment and the pixels of their box. Each group is one
    unmasked scaled-dot-product attention over its own keys (PyTorch keeps its fused kernels),
    except that inside boxes the base prompt's keys get the bias ``log(base_ratio)``, a
    ``(1, 1, 1, keys)`` row broadcast over the group (the memory-efficient kernels take it; at
    ``base_ratio`` 1 there is none, at 0 the base keys are left out of the group). The work is
    about that of one attention over the sequence; no ``T x T`` mask is ever built.

    ``groups`` holds ``(queries, keys, bias)``: index tensors (or slices, where contiguous) into
    the joint sequence and the bias row or ``None``.
    """

    def __init__(self, groups: list, length: int, segment_lengths: list[int], text_first: bool,
                 pixels: int) -> None:
        self.groups = groups
        self.length = length
        self.segment_lengths = list(segment_lengths)
        self.text_first = text_first
        self.pixels = pixels

    @property
    def text_length(self) -> int:
        return sum(self.segment_lengths)

    def keep_keys(self, valid: torch.Tensor) -> AttentionPlan:
        """The plan with the keys where ``valid`` (a bool vector over the sequence) is false left
        out, as a padding mask would (Qwen-Image pads text segments)."""
        import torch

        valid = valid.to(torch.bool).cpu()
        groups = []
        for queries, keys, bias in self.groups:
            index = _as_index(keys, self.length)
            keep = valid[index]
            if bool(keep.all()):
                groups.append((queries, keys, bias))
                continue
            device = index.device if isinstance(keys, torch.Tensor) else None
            kept = index[keep]
            groups.append((queries, kept.to(device) if device is not None else kept,
                           None if bias is None else bias[..., keep.to(bias.device)]))
        return AttentionPlan(groups, self.length, self.segment_lengths, self.text_first, self.pixels)

    def to(self, device: Any = None, dtype: Any = None) -> AttentionPlan:
        def move(t):
            return t.to(device) if hasattr(t, "to") and not isinstance(t, slice) else t

        groups = [(move(q), move(k), None if b is None else b.to(device=device, dtype=dtype))
                  for q, k, b in self.groups]
        return AttentionPlan(groups, self.length, self.segment_lengths, self.text_first, self.pixels)


def _as_index(index: Any, length: int) -> torch.Tensor:
    import torch

    if isinstance(index, slice):
        return torch.arange(length)[index]
    return index.cpu()


def _compact(index: torch.Tensor) -> Any:
    """A slice where the indices are one contiguous run (no gather needed), else the tensor."""
    if index.numel() and int(index[-1]) - int(index[0]) + 1 == index.numel():
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def joint_attention_plan(layout: Layout, instances: list[str], grid: tuple[int, int],
                         segment_lengths: list[int], base_ratio: float, *, text_first: bool,
                         device: Any = None, dtype: Any = None) -> AttentionPlan:
    """The :class:`AttentionPlan` of :func:`joint_attention_mask` (same arguments).

    >>> from compose.layouts import Layout
    >>> lay = Layout(canvas=(8, 8), boxes={"a": (0.0, 0.0, 0.5, 1.0)})
    >>> plan = joint_attention_plan(lay, ["a"], (1, 2), [1, 1], 1.0, text_first=True)
    >>> [(_as_index(q, 4).tolist(), _as_index(k, 4).tolist()) for q, k, _ in plan.groups]
    [([0, 3], [0, 2, 3]), ([2], [2, 3, 0, 1]), ([1], [1, 2])]

    Tokens: base, region a, the left pixel (in the box), the right one. Queries: the base and the
    pixel outside; the pixel inside; region a's token. Each sees the keys listed with it.
    """
    import torch

    gh, gw = grid
    pixels = gh * gw
    masks = torch.from_numpy(exclusive_box_masks(layout, instances, gh, gw)).reshape(len(instances), pixels)
    covered = masks.any(0)
    text = sum(segment_lengths)
    t0 = 0 if text_first else pixels
    i0 = text if text_first else 0
    starts = [t0 + sum(segment_lengths[:s]) for s in range(len(segment_lengths))]
    segs = [torch.arange(a, a + n) for a, n in zip(starts, segment_lengths)]
    image = torch.arange(i0, i0 + pixels)
    groups: list = []
    # the base prompt and the pixels outside every box: every pixel and the base prompt
    outside = image[~covered]
    queries = torch.cat([segs[0], outside]) if text_first else torch.cat([outside, segs[0]])
    keys = torch.cat([image, segs[0]]) if not text_first else torch.cat([segs[0], image])
    groups.append((queries, keys, None))
    bias_value = math.log(base_ratio) if 0.0 < base_ratio < 1.0 else None
    for r in range(len(instances)):
        own = image[masks[r]]
        seg = segs[r + 1]
        if own.numel():  # the pixels of region r: every pixel, the base prompt, region r
            with_base = base_ratio > 0.0
            keys = torch.cat([image] + ([segs[0]] if with_base else []) + [seg])
            bias = None
            if bias_value is not None:
                bias = torch.zeros(1, 1, 1, keys.numel())
                bias[..., pixels:pixels + segment_lengths[0]] = bias_value
            groups.append((own, keys, bias))
        # region r's tokens: their own segment and their box
        keys = torch.cat([seg, own]) if text_first else torch.cat([own, seg])
        groups.append((seg, keys, None))
    groups = [(_compact(q), _compact(k), b) for q, k, b in groups]
    return AttentionPlan(groups, text + pixels, segment_lengths, text_first, pixels).to(device, dtype)


def grouped_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      plan: AttentionPlan, *, scale: float | None = None,
                      capture: list | None = None) -> torch.Tensor:
    """Scaled-dot-product attention of ``(batch, heads, T, dim)`` tensors following ``plan``: one
    SDPA call per group. ``capture``, when a list, gets the dense probabilities ``(batch, heads,
    T, T)`` the groups amount to (zero where a query does not see a key), for tests (slow)."""
    import torch
    import torch.nn.functional as F

    if query.shape[2] != plan.length:
        raise ValueError(f"the joint sequence has {query.shape[2]} tokens; the regional plan was "
                         f"made for {plan.length}")
    out = torch.empty_like(query)
    probs = None
    if capture is not None:
        probs = query.new_zeros(*query.shape[:2], plan.length, plan.length)
    for queries, keys, bias in plan.groups:
        q = query[:, :, queries] if isinstance(queries, slice) else query.index_select(2, queries)
        if isinstance(keys, slice):
            k, v = key[:, :, keys], value[:, :, keys]
        else:
            k, v = key.index_select(2, keys), value.index_select(2, keys)
        mask = None if bias is None else bias.to(q.dtype)
        part = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        if isinstance(queries, slice):
            out[:, :, queries] = part
        else:
            out.index_copy_(2, queries, part)
        if probs is not None:
            s = (q @ k.transpose(-1, -2)) * (scale if scale is not None else q.shape[-1] ** -0.5)
            p = torch.softmax(s if mask is None else s + mask, dim=-1)
            rows = _as_index(queries, plan.length).to(query.device)
            cols = _as_index(keys, plan.length).to(query.device)
            probs[:, :, rows[:, None], cols[None, :]] = p
    if capture is not None:
        capture.append(probs.detach())
    return out


class SD3RegionalJointAttnProcessor:
    """diffusers' ``JointAttnProcessor2_0`` with the joint attention split by region groups
    (:func:`grouped_attention`); SD3's own processor drops attention masks. Image-only attention
    (SD3.5's second attention) is left as it is. ``capture`` as in :func:`grouped_attention`."""

    def __init__(self, plan: AttentionPlan, capture: list | None = None) -> None:
        self.plan = plan
        self.capture = capture

    # Copied from diffusers.models.attention_processor.JointAttnProcessor2_0.__call__ (the joint
    # attention replaced by grouped_attention)
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
            hidden_states = grouped_attention(query, key, value, self.plan, capture=self.capture)
        else:
            hidden_states = F.scaled_dot_product_attention(query, key, value)
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


class FluxRegionalAttnProcessor:
    """diffusers' ``FluxAttnProcessor`` with the joint attention split by region groups, in the
    double-stream blocks (text and image given apart) and the single-stream ones (one sequence,
    text first). ``capture`` as in :func:`grouped_attention`."""

    def __init__(self, plan: AttentionPlan, capture: list | None = None) -> None:
        self.plan = plan
        self.capture = capture

    # Copied from diffusers.models.transformers.transformer_flux.FluxAttnProcessor.__call__ (the
    # dispatch_attention_fn call replaced by grouped_attention)
    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: Any = None) -> torch.Tensor:
        import torch
        from diffusers.models.embeddings import apply_rotary_emb
        from diffusers.models.transformers.transformer_flux import _get_qkv_projections

        query, key, value, encoder_query, encoder_key, encoder_value = _get_qkv_projections(
            attn, hidden_states, encoder_hidden_states)
        query = attn.norm_q(query.unflatten(-1, (-1, attn.head_dim)))
        key = attn.norm_k(key.unflatten(-1, (-1, attn.head_dim)))
        value = value.unflatten(-1, (-1, attn.head_dim))
        if attn.added_kv_proj_dim is not None:
            encoder_query = attn.norm_added_q(encoder_query.unflatten(-1, (-1, attn.head_dim)))
            encoder_key = attn.norm_added_k(encoder_key.unflatten(-1, (-1, attn.head_dim)))
            encoder_value = encoder_value.unflatten(-1, (-1, attn.head_dim))
            query = torch.cat([encoder_query, query], dim=1)
            key = torch.cat([encoder_key, key], dim=1)
            value = torch.cat([encoder_value, value], dim=1)
        if image_rotary_emb is not None:
            query = apply_rotary_emb(query, image_rotary_emb, sequence_dim=1)
            key = apply_rotary_emb(key, image_rotary_emb, sequence_dim=1)
        hidden_states = grouped_attention(query.transpose(1, 2), key.transpose(1, 2),
                                          value.transpose(1, 2), self.plan,
                                          capture=self.capture).transpose(1, 2)
        hidden_states = hidden_states.flatten(2, 3).to(query.dtype)
        if encoder_hidden_states is not None:
            encoder_hidden_states, hidden_states = hidden_states.split_with_sizes(
                [encoder_hidden_states.shape[1], hidden_states.shape[1] - encoder_hidden_states.shape[1]], dim=1)
            hidden_states = attn.to_out[1](attn.to_out[0](hidden_states.contiguous()))
            encoder_hidden_states = attn.to_add_out(encoder_hidden_states.contiguous())
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
