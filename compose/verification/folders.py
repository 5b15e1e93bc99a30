"""Other benchmarks' image folders: images named by their prompt, with prompt files.

T2I-CompBench and LMD keep a benchmark's prompts as text files, one prompt a line (T2I-CompBench:
``color_val.txt``, ``spatial_val.txt``...; the file is the category), and a model's images in one
folder, each named by its prompt: ``<prompt>.png`` or ``<prompt>_<k>.png`` (T2I-CompBench writes
``<prompt>_000003.png``). An image may also be named by its prompt's line, counted from 0
(``12.png``, ``12_3.png``), when the prompt is not a usable file name.

:func:`prompt_folder_items` pairs images with prompts; each prompt is read by the prompt reader
when it is verified, and a prompt the reader understood only in part (its scene has warnings) is
reported as such and left out of the scores (it is not the image's failure).

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "color_val.txt").write_text("a red car\\na blue cup\\n")
>>> (root / "img").mkdir(); (root / "img" / "a red car_000000.png").touch(); (root / "img" / "1.png").touch()
>>> [(i, p, c) for i, _, p, c in prompt_folder_items(root / "img", [root / "color_val.txt"])]
[('color/1', 'a blue cup', 'color'), ('color/a red car_000000', 'a red car', 'color')]
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from compose.errors import UsageError
from compose.io import read_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def category_of(path: str | os.PathLike) -> str:
    """A prompt file's category: its name without the suffix and a ``_val`` / ``_test`` /
    ``_train`` ending (T2I-CompBench's ``color_val.txt`` is ``color``)."""
    return re.sub(r"_(val|test|train)$", "", Path(path).stem)


def read_prompt_file(path: str | os.PathLike) -> list[str]:
    """The prompts of a text file, one a line (blank lines skipped)."""
    return [line.strip() for line in read_text(path, "prompt file").splitlines() if line.strip()]


def prompt_folder_items(images: str | os.PathLike, prompt_files: Sequence[str | os.PathLike],
                        categories: Sequence[str] | None = None) -> list[tuple[str, str, str, str]]:
    """``(id, image path, prompt, category)`` for every image of ``images`` whose name is a
    prompt of one of ``prompt_files`` (or a prompt's line number), in prompt-file and file-name order.

    Ids are ``"<category>/<image name without suffix>"``. With several prompt files, an image
    whose prompt is in more than one goes to the first. Raises E604 when the folder is missing
    or no image matches a prompt.
    """
    base = Path(images)
    if not base.is_dir():
        raise UsageError("E604", path=str(base), reason="no such folder")
    files = sorted(p for p in base.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    taken: set[str] = set()
    items = []
    for k, prompt_file in enumerate(prompt_files):
        category = categories[k] if categories else category_of(prompt_file)
        prompts = read_prompt_file(prompt_file)
        by_name = {p.replace("/", "_"): p for p in prompts}
        for image in files:
            if image.name in taken:
                continue
            stem = image.stem
            bare = re.sub(r"_\d+$", "", stem)
            prompt = by_name.get(stem) or by_name.get(bare)
            if prompt is None:
                index = stem.split("_")[0]
                if index.isdigit() and int(index) < len(prompts) and re.fullmatch(r"\d+(_\d+)?", stem):
                    prompt = prompts[int(index)]
            if prompt is None:
                continue
            taken.add(image.name)
            items.append((f"{category}/{stem}", str(image), prompt, category))
    if not items:
        raise UsageError("E604", path=str(base),
                         reason="no image is named by a prompt of " + ", ".join(str(p) for p in prompt_files))
    return items
