"""Object phrases of scene programs read by the prompt reader: ``object c "a red circle"`` is a
circle, colored red; ``object dogs "three brown dogs"`` has count 3.

The scene language (:mod:`compose.language.semantics`) fills from the reading only what the
object's options leave unset, and warns (W101) where an option and the phrase disagree.

>>> reading = read_object_phrase("three brown dogs")
>>> reading.class_name, reading.count, reading.color
('dog', 3, 'brown')
>>> read_object_phrase("a cat and a dog").things
('cat', 'dog')
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from compose.errors import PromptError


@dataclass(frozen=True)
class PhraseReading:
    """What an object phrase says about its group; ``None`` fields say nothing.

    ``things`` holds the classes when the phrase names more than one (then nothing else is read).
    """

    class_name: str | None = None
    count: int | None = None
    color: str | None = None
    size: str | None = None
    attributes: dict = field(default_factory=dict)
    things: tuple[str, ...] = ()


#: Attributes of a reading that fill a group's attributes.
_ATTRIBUTES = ("material", "shape", "kind", "adjectives", "color", "other_colors", "wearing")


@functools.lru_cache(maxsize=4096)
def read_object_phrase(phrase: str) -> PhraseReading | None:
    """Read one object phrase; ``None`` when it names no thing or no spaCy pipeline is installed.

    A count is read only when the phrase writes one ("three dogs", "a pair of shoes"): a bare
    plural ("dogs") leaves the group's count to its options.
    """
    from compose.prompts.parser import BARE_PLURAL_COUNT, parse_prompt

    try:
        scene = parse_prompt(phrase)
    except PromptError:
        return None
    if not scene.objects:
        return None
    if len(scene.objects) > 1:
        return PhraseReading(things=tuple(g.class_name for g in scene.objects))
    group = scene.objects[0]
    count = group.count if isinstance(group.count, int) and group.count != 1 else None
    if count is None and isinstance(group.count, int) and group.count == 1:
        count = None  # "a dog" says one, as the default does
    if not isinstance(group.count, int) and (group.count.min, group.count.max) != BARE_PLURAL_COUNT:
        count = None  # a range ("several") stays the options' to say
    size = group.size if isinstance(group.size, str) else None
    attributes = {k: v for k, v in group.attributes.items() if k in _ATTRIBUTES}
    return PhraseReading(class_name=group.class_name, count=count, color=group.color, size=size,
                         attributes=attributes)
