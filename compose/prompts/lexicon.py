"""Word tables the prompt parser reads: classes and their plurals, quantifiers, framing words.

Colors, sizes and count words live in :mod:`compose.vocabulary`; relation phrasings live in
:mod:`compose.relations`. This module holds only what is particular to reading English prompts.

Examples
--------
>>> singular("knives"), singular("people"), singular("wine glasses"), singular("skis")
('knife', 'person', 'wine glass', 'skis')
>>> CLASS_PHRASES["teddy bears"]
'teddy bear'
"""

from __future__ import annotations

from compose.vocabulary import SHAPE_SYNONYMS, SHAPES

#: The 80 GenEval (COCO) classes, in GenEval's order.
GENEVAL_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "computer mouse", "tv remote",
    "computer keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator",
    "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)

#: The embedded world's other spellings of its shapes ("disc", "rhombus"), from their one home;
#: "plus" stays a conjunction in prompts, and plurals come from :func:`plural_forms`.
WORLD_SHAPE_SYNONYMS: dict[str, str] = {w: s for w, s in SHAPE_SYNONYMS.items()
                                        if w != "plus" and w not in SHAPES and w.rstrip("es") != s
                                        and w[:-1] != s and w[:-2] != s}

#: Other spellings of a GenEval class, mapped to the class (the phrase keeps the spelling).
CLASS_SYNONYMS: dict[str, str] = {
    "people": "person", "persons": "person", "television": "tv", "tv set": "tv",
    "sofa": "couch", "doughnut": "donut", "motorbike": "motorcycle", "aeroplane": "airplane",
    "cellphone": "cell phone", "mobile phone": "cell phone", "smartphone": "cell phone",
    "hair dryer": "hair drier", "hairdryer": "hair drier", "fridge": "refrigerator",
    "remote control": "tv remote", "teddy": "teddy bear", "teddybear": "teddy bear",
    "hotdog": "hot dog", "houseplant": "potted plant", "pot plant": "potted plant",
    "wineglass": "wine glass", "plane": "airplane", "jet plane": "airplane",
    "ski": "skis", "racket": "tennis racket", "tennis racquet": "tennis racket",
    "hand bag": "handbag", "back pack": "backpack", "tooth brush": "toothbrush",
    "sail boat": "boat", "sailboat": "boat", "dinner table": "dining table",
    **WORLD_SHAPE_SYNONYMS,
}

#: Plurals that rules do not make, singular forms in the value.
IRREGULAR_PLURALS: dict[str, str] = {
    "people": "person", "persons": "person", "men": "man", "women": "woman", "children": "child",
    "mice": "mouse", "geese": "goose", "teeth": "tooth", "feet": "foot", "oxen": "ox",
    "knives": "knife", "wives": "wife", "lives": "life", "leaves": "leaf", "loaves": "loaf",
    "wolves": "wolf", "shelves": "shelf", "halves": "half", "calves": "calf", "scarves": "scarf",
    "sheep": "sheep", "sheeps": "sheep", "deer": "deer", "fish": "fish", "moose": "moose",
    "skis": "skis", "scissors": "scissors", "glasses": "glass", "dice": "die", "cacti": "cactus",
    "fungi": "fungus", "octopi": "octopus", "buses": "bus", "busses": "bus", "broccoli": "broccoli",
    "broccolis": "broccoli", "gas": "gas", "lens": "lens", "canvas": "canvas", "glass": "glass",
    "grass": "grass", "bus": "bus", "cactus": "cactus", "walrus": "walrus", "octopus": "octopus",
    "platypus": "platypus", "hippopotamus": "hippopotamus", "iris": "iris", "compass": "compass",
    "dress": "dress", "mattress": "mattress", "address": "address", "boss": "boss",
    "jeans": "jeans", "pants": "pants", "trousers": "trousers", "shorts": "shorts",
    "sunglasses": "sunglasses", "eyeglasses": "eyeglasses", "goggles": "goggles",
    "headphones": "headphones", "earphones": "earphones", "tweezers": "tweezers",
    "pajamas": "pajamas", "mars": "mars", "venus": "venus", "paris": "paris",
    "tongs": "tongs", "pliers": "pliers", "binoculars": "binoculars", "series": "series",
    "species": "species", "news": "news", "chess": "chess", "ties": "tie", "pies": "pie",
    "movies": "movie", "cookies": "cookie", "zombies": "zombie", "hippies": "hippie",
    "potatoes": "potato", "tomatoes": "tomato", "heroes": "hero", "volcanoes": "volcano",
    "echoes": "echo", "mangoes": "mango", "toes": "toe", "shoes": "shoe", "horseshoes": "horseshoe",
    "canoes": "canoe", "oboes": "oboe", "axes": "axe", "boxes": "box", "foxes": "fox",
    "vases": "vase", "houses": "house", "horses": "horse", "noses": "nose", "roses": "rose",
    "cases": "case", "suitcases": "suitcase", "bases": "base", "phrases": "phrase",
    "purses": "purse", "nurses": "nurse", "blouses": "blouse",
    "mouses": "mouse", "drives": "drive", "knifes": "knife", "benchs": "bench",
    "sandwichs": "sandwich", "toothbrushs": "toothbrush", "driers": "drier", "dryers": "dryer",
}

#: Nouns that name the place a picture shows: they become the scene's background, not objects.
SETTING_NOUNS: frozenset[str] = frozenset({
    "kitchen", "room", "living room", "bedroom", "bathroom", "office", "street", "road", "city",
    "beach", "field", "meadow", "park", "forest", "woods", "jungle", "desert", "ocean", "sea",
    "lake", "river", "mountain", "mountains", "sky", "garden", "backyard", "yard", "farm",
    "classroom", "library", "restaurant", "cafe", "café", "market", "parking lot", "airport",
    "station", "stadium", "snow", "space", "countryside", "village", "town", "landscape",
    "hallway", "corridor", "studio", "background", "night", "sunset", "sunrise", "day",
    "morning", "evening", "afternoon", "winter", "summer", "autumn", "spring", "fall",
    "mars", "outer space", "underwater", "grass field", "snowfield", "cave", "island", "valley",
})

#: Settings that are never a thing drawn in a box, whatever relation they follow.
SETTING_ONLY: frozenset[str] = frozenset({
    "background", "night", "sunset", "sunrise", "day", "morning", "evening", "afternoon",
    "winter", "summer", "autumn", "spring", "fall", "space", "outer space", "underwater", "sky",
    "landscape", "countryside", "snow",
})

#: What people wear: "a man in a red shirt" describes the man (``wearing=``), it adds no object.
CLOTHING: frozenset[str] = frozenset({
    "shirt", "t-shirt", "dress", "hat", "cap", "jacket", "coat", "suit", "sweater", "skirt",
    "pants", "jeans", "trousers", "shorts", "scarf", "uniform", "costume", "hoodie", "shoes",
    "boots", "sunglasses", "helmet", "gown", "robe", "vest", "tuxedo", "apron", "raincoat",
    "sneakers", "gloves", "mask", "cape", "kimono", "bikini", "swimsuit", "overalls", "pajamas",
})

#: Possessive determiners: "his dog" names a new dog, like "a dog".
POSSESSIVES: frozenset[str] = frozenset({"his", "her", "my", "our", "your", "its", "their"})

#: Words after which a noun phrase names the picture, not a thing in it ("a photo of").
FRAMING_NOUNS: frozenset[str] = frozenset({
    "photo", "photograph", "picture", "pic", "image", "snapshot", "shot", "render", "rendering",
    "illustration", "drawing", "painting", "sketch", "portrait", "scene", "view", "close-up",
    "closeup", "depiction", "artwork", "watercolor", "watercolour", "cartoon", "poster",
    "photography", "art", "still", "3d", "frame",
})

#: Framing nouns that carry no style: "a photo of" is dropped entirely.
PLAIN_FRAMING_NOUNS: frozenset[str] = frozenset({
    "photo", "photograph", "picture", "pic", "image", "snapshot", "shot", "scene", "view", "frame",
    "depiction",
})

#: Words that join a framing noun to what it shows.
FRAMING_LINKS: tuple[tuple[str, ...], ...] = (
    ("of",), ("showing",), ("depicting",), ("featuring",), ("with",), ("that", "shows"),
    ("which", "shows"), ("containing",), ("where",), ("in", "which"),
)

#: Openings that introduce what follows ("there is a cat"), dropped.
OPENINGS: tuple[tuple[str, ...], ...] = (
    ("there", "is"), ("there", "are"), ("there", "'s"), ("here", "is"), ("here", "are"),
    ("we", "see"), ("i", "see"), ("you", "can", "see"), ("show", "me"), ("generate",),
    ("draw",), ("create",), ("render",), ("imagine",), ("please",),
)

#: Multi-word quantifiers: (words, count) where count is an int or a (min, max) range.
QUANTIFIERS: dict[tuple[str, ...], int | tuple[int, int]] = {
    ("a", "couple", "of"): 2, ("couple", "of"): 2,
    ("a", "couple"): 2, ("a", "dozen"): 12, ("dozen",): 12, ("a", "few"): (2, 4), ("few",): (2, 4),
    ("some",): (2, 4), ("several",): (3, 6), ("many",): (5, 10), ("multiple",): (2, 4),
    ("numerous",): (5, 10), ("various",): (3, 6), ("lots", "of"): (5, 10),
    ("a", "lot", "of"): (5, 10), ("plenty", "of"): (5, 10), ("a", "bunch", "of"): (3, 6),
    ("a", "group", "of"): (3, 6), ("a", "number", "of"): (3, 6), ("a", "handful", "of"): (2, 5),
    ("dozens", "of"): (12, 36), ("a", "set", "of"): (3, 6), ("a", "row", "of"): (3, 6),
    ("a", "stack", "of"): (3, 6), ("a", "pile", "of"): (3, 6), ("a", "herd", "of"): (3, 8),
    ("a", "flock", "of"): (3, 8), ("a", "pack", "of"): (3, 6), ("a", "crowd", "of"): (5, 10),
    ("a", "collection", "of"): (3, 6), ("a", "variety", "of"): (3, 6), ("both",): 2,
    ("a", "single"): 1, ("single",): 1, ("only", "one"): 1, ("just", "one"): 1,
    ("a", "piece", "of"): 1, ("a", "slice", "of"): 1, ("a", "chunk", "of"): 1,
    ("exactly", "one"): 1, ("one", "single"): 1, ("a", "lone"): 1, ("a", "solitary"): 1,
}

#: Nouns one of which is a pair ("a pair of scissors" is one pair of scissors, not two).
PAIR_NOUNS: frozenset[str] = frozenset({
    "scissors", "skis", "glasses", "sunglasses", "goggles", "binoculars", "pants", "trousers",
    "jeans", "shorts", "pliers", "tongs", "headphones", "earphones", "tweezers", "pajamas",
})

#: Words that make the following noun phrase forbidden ("no dogs", "without any cars").
NEGATIONS: tuple[tuple[str, ...], ...] = (
    ("without", "any"), ("with", "no"), ("without", "a"), ("without", "an"), ("without",),
    ("not", "a", "single"), ("not", "any"), ("not", "a"), ("not", "an"), ("no", "more"), ("no",),
    ("zero",), ("none", "of", "the"), ("nor",), ("never",), ("free", "of"), ("devoid", "of"),
    ("lacking",), ("absent",), ("except", "for"), ("but", "no"),
)

#: Negative pronouns and what they forbid ("no one on it").
NEGATED_PRONOUNS: dict[tuple[str, ...], str] = {
    ("no", "one"): "person", ("nobody",): "person", ("no-one",): "person", ("noone",): "person",
    ("no", "people"): "person", ("no", "humans"): "person",
}

#: Arrangements: "side by side" is a reciprocal relation, "in a row" none the layout can say.
ARRANGEMENTS: dict[tuple[str, ...], str | None] = {
    ("side", "by", "side"): "next_to", ("in", "a", "row"): None, ("in", "a", "line"): None,
    ("in", "a", "circle"): None, ("in", "a", "pile"): None, ("in", "a", "stack"): None,
    ("in", "rows"): None, ("in", "a", "cluster"): None, ("in", "a", "group"): None,
}

#: Definite determiners: a noun phrase with one of them may refer to an earlier object.
DEFINITE: frozenset[str] = frozenset({"the", "this", "that", "these", "those"})

#: Determiners meaning exactly one new thing.
INDEFINITE: frozenset[str] = frozenset({"a", "an", "another", "one"})

#: Pronouns that stand for an object mentioned before.
PRONOUNS: frozenset[str] = frozenset({"it", "them", "they", "itself", "themselves"})

#: Adjectives that say what a thing is made of, kept as ``material=``.
MATERIALS: frozenset[str] = frozenset({
    "wooden", "wood", "metal", "metallic", "steel", "iron", "golden", "gold", "silver", "glass",
    "plastic", "leather", "ceramic", "porcelain", "stone", "marble", "paper", "cardboard",
    "rubber", "woolen", "wool", "cotton", "silk", "velvet", "brass", "copper", "concrete",
    "brick", "crystal", "fabric", "denim", "furry", "fluffy", "knitted", "clay", "bamboo",
})

#: Adjectives of shape, kept as ``shape=`` ("a square rug"; "a square" alone is the shape).
SHAPE_ADJECTIVES: frozenset[str] = frozenset({
    "round", "oval", "rectangular", "circular", "triangular", "square", "spherical", "cubic",
    "cylindrical", "hexagonal", "star-shaped", "heart-shaped", "diamond-shaped", "conical",
})

#: Other ways prompts write the words of :data:`compose.relations.RELATIONS`: an article left
#: out or put in, "at" for "on"/"to". Each maps a table phrase to its variants.
def relation_variants(phrase: str) -> set[str]:
    """Spellings of a relation phrase that prompts use besides the table's own.

    >>> sorted(relation_variants("to the left of"))
    ['at the left of', 'to left of']
    >>> sorted(relation_variants("in front of"))
    ['at the front of', 'in the front of']
    """
    out = set()
    words = phrase.split()
    if "the" in words:
        out.add(" ".join(w for w in words if w != "the"))
    if words[:2] in (["to", "the"], ["on", "the"]):
        out.add(" ".join(["at", *words[1:]]))
    if phrase == "in front of":
        out |= {"in the front of", "at the front of"}
    if phrase == "in back of":
        out |= {"at the back of", "in the back of"}
    return out - {phrase}


#: Relation phrasings of the public benchmarks that the relation table does not hold. "On the
#: top of" is T2I-CompBench's "above" (its images put the thing higher, not resting on top);
#: "hidden by" puts the hidden thing behind.
EXTRA_RELATION_PHRASES: dict[str, str] = {
    "on the top of": "above", "at the top of": "above", "on the upper side of": "above",
    "on the bottom of": "below", "at the bottom of": "below", "on the lower side of": "below",
    "underneath of": "below", "beneath of": "below",
    "on side of": "next_to", "on the side of": "next_to", "at the side of": "next_to",
    "by side of": "next_to", "on either side of": "next_to", "close to": "near",
    "hidden by": "behind", "hidden behind": "behind", "obscured by": "behind",
    "occluded by": "behind", "blocked by": "behind", "covered by": "behind",
    "partially hidden by": "behind", "partly hidden by": "behind",
    "on the left side of": "left_of", "on the right side of": "right_of",
    "to the left side of": "left_of", "to the right side of": "right_of",
    "on the left hand side of": "left_of", "on the right hand side of": "right_of",
    "to the left-hand side of": "left_of", "to the right-hand side of": "right_of",
}

def _diagonals() -> tuple[dict[str, str], dict[tuple[str, ...], str]]:
    relations: dict[str, str] = {}
    positions: dict[tuple[str, ...], str] = {}
    for vertical, up in (("upper", "above"), ("top", "above"), ("lower", "below"), ("bottom", "below")):
        for side in ("left", "right"):
            for joint in (" ", " - "):
                corner = f"{vertical}{joint}{side}"
                for lead in ("to the ", "on the ", "at the ", ""):
                    relations[f"{lead}{corner} of"] = f"{up}+{side}_of"
                for lead in ("in the ", "on the ", "at the "):
                    for tail in ("", " corner", " side"):
                        positions[tuple(f"{lead}{corner}{tail}".split())] = f"{vertical.replace('upper', 'top').replace('lower', 'bottom')} {side}"
    return relations, positions


#: Diagonal phrasings: "to the upper left of" is two relations (above and left of, joined by
#: "+"); "in the top left corner" two positions.
DIAGONAL_RELATION_PHRASES, DIAGONAL_POSITIONS = _diagonals()

#: Colors outside the palette the verifier sees (:data:`compose.vocabulary.COLORS`): read and
#: kept as the group's ``color`` attribute with a warning (W204), never silently dropped. Gold,
#: silver, bronze and copper are materials (:data:`MATERIALS`).
EXTRA_COLORS: frozenset[str] = frozenset({
    "beige", "tan", "cream", "ivory", "maroon", "burgundy", "navy", "teal", "turquoise", "cyan",
    "aqua", "magenta", "lavender", "lilac", "indigo", "crimson", "scarlet", "khaki", "olive",
    "mauve", "amber", "charcoal", "peach", "coral", "salmon", "fuchsia", "mint",
})

#: Color words that are also nouns ("a red rose", "a yellow violet"): the noun when a color
#: came before and nothing follows.
COLOR_NOUNS: frozenset[str] = frozenset({
    "rose", "violet", "lavender", "lilac", "orange", "peach", "plum", "olive", "lime", "coral",
    "salmon", "mint", "amber", "cream", "chocolate", "gold", "silver", "copper", "ivory",
})

#: Verbs and adverbs that only link a subject to a relation ("is placed", "sitting").
NEUTRAL_VERBS: frozenset[str] = frozenset({
    "be", "is", "are", "was", "were", "been", "being", "'s", "'re", "am", "placed", "positioned",
    "located", "situated", "set", "put", "found", "seen", "shown", "appear", "appears", "appearing",
    "lie", "lies", "lying", "sit", "sits", "sitting", "stand", "stands", "standing", "rest",
    "rests", "resting", "stay", "stays", "staying", "arranged", "kept", "remains",
    "remain", "which", "that", "who", "whose", "while",
})

#: Adverbs that may sit inside or before a relation ("directly above", "right next to").
RELATION_ADVERBS: frozenset[str] = frozenset({
    "directly", "right", "just", "slightly", "immediately", "far", "somewhat", "exactly",
    "partly", "partially", "clearly", "neatly", "also", "both", "all", "each", "still", "very",
    "way", "high", "low", "up", "down", "closely", "perfectly", "precisely", "completely",
})

#: Absolute positions ("on the left"): what they say about the picture's halves.
ABSOLUTE_POSITIONS: dict[tuple[str, ...], str] = {
    ("on", "the", "left"): "left", ("to", "the", "left"): "left", ("at", "the", "left"): "left",
    ("on", "the", "right"): "right", ("to", "the", "right"): "right",
    ("at", "the", "right"): "right", ("at", "the", "top"): "top", ("on", "top"): "top",
    ("at", "the", "bottom"): "bottom", ("on", "the", "bottom"): "bottom",
    ("in", "the", "middle"): "middle", ("in", "the", "center"): "middle",
    ("in", "the", "centre"): "middle", ("in", "the", "foreground"): "foreground",
    ("in", "the", "background"): "background",
    ("on", "the", "left", "side"): "left", ("on", "the", "right", "side"): "right",
    ("on", "the", "top"): "top", ("at", "top"): "top", ("on", "bottom"): "bottom",
    ("at", "bottom"): "bottom", ("in", "the", "top"): "top", ("in", "the", "bottom"): "bottom",
    ("on", "the", "upper", "side"): "top", ("on", "the", "lower", "side"): "bottom",
    ("at", "the", "upper", "side"): "top", ("at", "the", "lower", "side"): "bottom",
    ("in", "the", "left"): "left", ("in", "the", "right"): "right",
    ("on", "the", "far", "left"): "left", ("on", "the", "far", "right"): "right",
    ("to", "the", "far", "left"): "left", ("to", "the", "far", "right"): "right",
    ("on", "the", "left", "hand", "side"): "left", ("on", "the", "right", "hand", "side"): "right",
    ("on", "the", "left-hand", "side"): "left", ("on", "the", "right-hand", "side"): "right",
    ("in", "front"): "foreground", ("in", "the", "front"): "foreground",
    ("in", "the", "back"): "background", ("at", "the", "back"): "background",
    ("at", "the", "front"): "foreground",
    **DIAGONAL_POSITIONS,
}

#: Words that separate noun phrases.
SEPARATORS: frozenset[str] = frozenset({
    ",", ";", ".", "!", "?", ":", "and", "&", "plus", "or", "but", "while", "whereas", "with",
    "along", "together", "as", "well", "also", "then", "+", "-", "—", "–", "(", ")", "\"", "'",
})

#: Words that end a sentence: a relation after them starts afresh.
SENTENCE_ENDS: frozenset[str] = frozenset({".", "!", "?", ";"})

_ES_ENDINGS = ("s", "x", "z", "ch", "sh")


def plural_forms(noun: str) -> set[str]:
    """Plural spellings of a (possibly compound) noun, regular and naive (GenEval's "benchs").

    >>> sorted(plural_forms("bench"))
    ['benches', 'benchs']
    >>> sorted(plural_forms("teddy bear"))
    ['teddy bears']
    """
    *head, last = noun.split(" ")
    forms = {last + "s"}
    if last.endswith(_ES_ENDINGS):
        forms.add(last + "es")
    if last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        forms.add(last[:-1] + "ies")
    if last.endswith("f"):
        forms.add(last[:-1] + "ves")
    if last.endswith("fe"):
        forms.add(last[:-2] + "ves")
    if last.endswith("o"):
        forms.add(last + "es")
    if last.endswith("s") and last in IRREGULAR_PLURALS.values():  # skis, scissors, glass
        forms.discard(last + "s")
    forms |= {p for p, s in IRREGULAR_PLURALS.items() if s == last}
    return {" ".join([*head, f]) for f in forms}


def _class_phrases() -> dict[str, str]:
    """Every written form (singular, plural, synonym) of a known class, mapped to the class."""
    out: dict[str, str] = {}
    for noun in (*SHAPES, *GENEVAL_CLASSES):
        for form in plural_forms(noun):
            out.setdefault(form, noun)
    for word, cls in CLASS_SYNONYMS.items():
        for form in plural_forms(word):
            out.setdefault(form, cls)
    for word, cls in CLASS_SYNONYMS.items():
        out[word] = cls
    for noun in (*SHAPES, *GENEVAL_CLASSES):
        out[noun] = noun
    return out


#: Written form -> class, for classes the parser must get exactly right.
CLASS_PHRASES: dict[str, str] = _class_phrases()

#: The longest class phrase, in words.
MAX_CLASS_WORDS = max(len(p.split()) for p in CLASS_PHRASES)


def singular(noun: str) -> str:
    """The singular class a written noun (phrase) names, by the tables; unknown words unchanged
    except for regular plural endings.

    >>> singular("buses"), singular("couches"), singular("cars"), singular("glass")
    ('bus', 'couch', 'car', 'glass')
    """
    noun = " ".join(noun.lower().split())
    if noun in CLASS_PHRASES:
        return CLASS_PHRASES[noun]
    *head, last = noun.split(" ")
    if last in IRREGULAR_PLURALS:
        last = IRREGULAR_PLURALS[last]
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith("uses") and not last.endswith(("ouses", "auses")) and len(last) > 5:
        last = last[:-2]  # "octopuses", "walruses"; "houses" and "causes" keep their e
    elif last.endswith(("ches", "shes", "xes", "zes", "sses")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return " ".join([*head, last])
