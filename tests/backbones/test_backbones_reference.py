"""The full-size architectures of every diffusers backbone build on the meta device (no memory, no
download) with the published parameter counts, and their parts fit together (text width into
the transformer, latent channels into its input)."""

from __future__ import annotations

import pytest

from compose.backbones.reference_configs import REFERENCE, build, parameters

# published sizes (model cards / papers), in billions of parameters; 2% tolerance
PUBLISHED = {
    ("sd15", "unet"): 0.860, ("sdxl-base", "unet"): 2.567, ("sdxl-base", "text_encoder_2"): 0.695,
    ("sd35-medium", "transformer"): 2.243, ("sd35-medium", "text_encoder_3"): 4.762,
    ("flux1-dev", "transformer"): 11.90, ("flux2-dev", "transformer"): 32.2,
    ("flux2-dev", "text_encoder"): 22.9,  # Mistral Small 3.1's language model (24 B with vision)
    ("flux2-klein-4b", "transformer"): 3.88, ("flux2-klein-4b", "text_encoder"): 4.02,
    ("qwen-image", "transformer"): 20.43, ("qwen-image", "text_encoder"): 8.29,
}


@pytest.mark.parametrize("model", sorted(REFERENCE))
def test_full_size_architecture_builds_on_meta(model):
    parts = {part: build(model, part) for part in REFERENCE[model]}
    for part, module in parts.items():
        assert next(module.parameters()).is_meta
        if (model, part) in PUBLISHED:
            assert parameters(module) / 1e9 == pytest.approx(PUBLISHED[model, part], rel=0.02)
    denoiser = parts.get("transformer") or parts["unet"]
    config = denoiser.config
    if model.startswith("flux2"):  # three hidden layers of the text encoder are stacked
        assert config.joint_attention_dim == 3 * parts["text_encoder"].config.hidden_size
        assert config.in_channels == 4 * parts["vae"].config.latent_channels
    elif model == "qwen-image":
        assert config.joint_attention_dim == parts["text_encoder"].config.text_config.hidden_size
        assert config.in_channels == 4 * parts["vae"].config.z_dim
    elif model in ("flux1-dev", "sd35-medium"):
        assert config.joint_attention_dim == parts[max(p for p in parts if p.startswith("text_encoder"))].config.d_model
        latent = parts["vae"].config.latent_channels
        assert config.in_channels == (4 * latent if model == "flux1-dev" else latent)
    else:
        widths = sum(parts[p].config.hidden_size for p in parts if p.startswith("text_encoder"))
        assert config.cross_attention_dim == widths


def test_example_backbones_toml_names_known_backbones_and_options():
    """examples/backbones.toml only uses backbones and options that exist (E406 otherwise)."""
    from pathlib import Path

    import tomllib

    from compose.backbones.base import backbone_class

    data = tomllib.loads((Path(__file__).parents[2] / "examples" / "backbones.toml").read_text())
    assert {"flux2-regional", "qwen-image-regional"} <= set(data)
    for name, options in data.items():
        defaults = backbone_class(name).defaults
        assert set(options) <= set(defaults), (name, set(options) - set(defaults))
