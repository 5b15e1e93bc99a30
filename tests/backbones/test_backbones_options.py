"""Options every diffusers backbone shares: weights only from disk (E403 saying where it looked),
missing packages (E405), device/dtype/config-file options (E406), and the box masks the
regional backbones are built on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compose.backbones import available_backbones, get_backbone
from compose.backbones.conditioning import exclusive_box_masks
from compose.backbones.diffusers_base import parse_device, parse_dtype_name
from compose.backbones.regional_attention import blend_weights, joint_attention_mask
from compose.errors import BackboneError
from compose.layouts import Layout
from compose.weights import hf_cache_dir, require_package

DIFFUSERS_BACKBONES = ["sd-gligen", "sd-regional", "sdxl-regional", "sd3-regional", "flux-regional",
                       "sd-controlnet-seg"]


def test_diffusers_backbones_are_registered():
    assert set(DIFFUSERS_BACKBONES) <= set(available_backbones())


@pytest.mark.parametrize("name", DIFFUSERS_BACKBONES)
def test_missing_local_weights_say_where_they_looked(name, tmp_path):
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(BackboneError) as err:
        get_backbone(name, model=str(missing), controlnet=str(missing), device="cpu") \
            if name == "sd-controlnet-seg" else get_backbone(name, model=str(missing), device="cpu")
    assert err.value.code == "E403" and err.value.exit_code == 5
    assert str(missing) in str(err.value) and name in str(err.value)


def test_missing_repo_id_names_the_hf_cache_regional():
    with pytest.raises(BackboneError) as err:
        get_backbone("sd-regional", model="nobody-here/no-such-model", device="cpu")
    assert err.value.code == "E403"
    assert "nobody-here/no-such-model" in str(err.value) and hf_cache_dir() in str(err.value)


def test_missing_package_is_e405():
    with pytest.raises(BackboneError) as err:
        require_package("compose_no_such_package", "sd-regional")
    assert err.value.code == "E405" and err.value.exit_code == 5
    assert "compose_no_such_package" in str(err.value)


def test_device_and_dtype_options():
    assert parse_dtype_name("fp16") == "fp16" and parse_dtype_name("torch.bfloat16") == "bf16"
    assert parse_dtype_name(None, device="cuda") == "fp16" and parse_dtype_name("auto") == "fp32"
    assert parse_device("cpu") == "cpu" and parse_device(None) in ("cuda", "mps", "cpu")
    for call, argument in ((lambda: parse_dtype_name("fp8"), "dtype"),
                           (lambda: parse_device("tpu"), "device")):
        with pytest.raises(BackboneError, match=argument) as err:
            call()
        assert err.value.code == "E406"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(BackboneError, match="CUDA is not available"):
            parse_device("cuda")


def test_config_file_gives_options_and_arguments_win_regional(tiny_sd, tmp_path, monkeypatch):
    toml = tmp_path / "backbones.toml"
    toml.write_text(f'[sd-regional]\nmodel = "{tiny_sd}"\ndtype = "fp32"\nbase_ratio = 0.5\n'
                    '[sd-gligen]\nmodel = "/elsewhere"\n', encoding="utf-8")
    backbone = get_backbone("sd-regional", config=str(toml), device="cpu")
    assert backbone.options["model"] == str(tiny_sd) and backbone.options["base_ratio"] == 0.5
    assert backbone.runtime.dtype == "fp32"
    assert get_backbone("sd-regional", config=str(toml), device="cpu", base_ratio=0.1).options["base_ratio"] == 0.1
    as_json = tmp_path / "backbones.json"
    as_json.write_text(json.dumps({"sd-regional": {"model": str(tiny_sd), "steps": 7}}), encoding="utf-8")
    monkeypatch.setenv("COMPOSE_BACKBONES_CONFIG", str(as_json))
    assert get_backbone("sd-regional", device="cpu").options["steps"] == 7
    bad = tmp_path / "bad.toml"
    bad.write_text('[sd-regional]\nbase_ration = 0.5\n', encoding="utf-8")
    with pytest.raises(BackboneError, match="base_ration") as err:
        get_backbone("sd-regional", config=str(bad), device="cpu")
    assert err.value.code == "E406"
    with pytest.raises(BackboneError, match="config"):
        get_backbone("sd-regional", config=str(tmp_path / "absent.toml"), device="cpu")


def test_base_ratio_out_of_range_regional(tiny_sd):
    with pytest.raises(BackboneError, match="base_ratio"):
        get_backbone("sd-regional", model=str(tiny_sd), device="cpu", base_ratio=1.5)


boxes = st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.02, 1), st.floats(0.02, 1)).map(
    lambda t: (t[0], t[1], min(1.0, t[0] + t[2]), min(1.0, t[1] + t[3])))


@settings(max_examples=30, deadline=None)
@given(st.lists(boxes, min_size=1, max_size=5), st.integers(1, 12), st.integers(1, 12),
       st.floats(0, 1))
def test_region_masks_partition_and_weights_sum_to_one(box_list, h, w, base_ratio):
    layout = Layout(canvas=(64, 64), boxes={f"o#{i}": b for i, b in enumerate(box_list)})
    instances = list(layout.boxes)
    masks = exclusive_box_masks(layout, instances, h, w)
    assert masks.sum(0).max() <= 1  # each cell has at most one owner (the front-most box)
    # the last (front-most) box always owns at least one cell, even when smaller than a cell
    assert masks[-1].any()
    weights = blend_weights(layout, instances, h, w, base_ratio).numpy()
    assert np.allclose(weights.sum(0), 1.0, atol=1e-6) and (weights >= 0).all()
    joint = joint_attention_mask(layout, instances, (h, w), [2] * (1 + len(instances)), base_ratio,
                                 text_first=bool(h % 2)).numpy()[0, 0]
    assert np.isfinite(joint).any(axis=1).all()  # no token is left with nothing to attend to
