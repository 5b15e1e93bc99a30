"""Shared test settings: hypothesis profiles sized for a 2-core CI machine."""

import os

from helpers.tiny_diffusers import (  # noqa: F401  (fixtures: tiny checkpoints built once per session)
    tiny_controlnet,
    tiny_flux,
    tiny_flux2,
    tiny_gligen,
    tiny_qwen_image,
    tiny_sd,
    tiny_sd3,
    tiny_sdxl,
)
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
