"""The embedded world: a small universe of colored shapes that runs anywhere.

:mod:`~compose.vocabulary` names its shapes and background tones, :mod:`~compose.world.draw`
draws laid-out scenes exactly, :mod:`~compose.world.dataset` makes annotated training data,
:mod:`~compose.world.model` is the layout-conditioned diffusion model and
:mod:`~compose.world.train` trains it. Nothing heavy is imported here.
"""
