"""The scene graph: what is in the picture and how things relate.

A :class:`Scene` is the one shared value of the pipeline. A scene program, a prompt and a JSON
file all become a ``Scene``; everything after that (layout, rendering, verification) sees only
the ``Scene``. Object *groups* are declared (``object mug "a red mug" count 2``); *instances*
(``mug#0``, ``mug#1``) are derived from them. Relation *statements* are written between groups
or instances; :meth:`Scene.relations` expands them to one relation per instance pair.

Examples
--------
>>> scene = Scene(objects=[ObjectGroup(name="mug", phrase="a red mug", count=2, color="red"),
...                        ObjectGroup(name="kettle", phrase="a kettle")],
...               statements=[RelationStatement(subject=Ref(group="mug"), predicate="left_of",
...                                             objects=[Ref(group="kettle")])])
>>> [obj.id for obj in scene.instances()]
['mug#0', 'mug#1', 'kettle#0']
>>> [(r.subject, r.predicate, r.object) for r in scene.relations()]
[('mug#0', 'left_of', 'kettle#0'), ('mug#1', 'left_of', 'kettle#0')]
>>> Scene.from_json(scene.to_json()) == scene
True
"""

from __future__ import annotations

import json
import math
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from compose.boxes import Box, valid_box
from compose.errors import SceneError, SceneSemanticError
from compose.span import Span
from compose.vocabulary import COLORS, MAX_COUNT, SIZES

AttributeValue = bool | int | float | str

SCENE_FORMAT_VERSION = 1

#: What an object name is: an identifier (the language's ``NAME``) that is not a keyword, so a
#: scene from any source can be written as a program. ``x`` (of ``canvas W x H``) is a name.
NAME_PATTERN = re.compile(r"[^\W\d]\w*\Z")
KEYWORDS = frozenset({"canvas", "background", "style", "negative", "seed", "object", "count", "color", "size",
                      "at", "aspect", "class", "with", "prefer", "weight", "between", "and", "forbid", "require"})


def is_name(word: str) -> bool:
    """Whether ``word`` is a valid object name.

    >>> is_name("mug"), is_name("x"), is_name("seed"), is_name("a\\nb"), is_name("2cats")
    (True, True, False, False, False)
    """
    return bool(NAME_PATTERN.match(word)) and word not in KEYWORDS


class Node(BaseModel):
    """Base of the scene's parts: strict fields, and equality that ignores provenance.

    Two scenes are equal when they *mean* the same, whether they came from a program, its
    formatted form or JSON; where each statement was written (spans) and the prompt a scene
    was parsed from (with its warnings) are provenance, not meaning. JSON keeps all of it.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)

    span: Span | None = Field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return _without_spans(self.model_dump()) == _without_spans(other.model_dump())  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]


_PROVENANCE = frozenset({"span", "prompt", "warnings"})


def _without_spans(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_spans(v) for k, v in value.items() if k not in _PROVENANCE}
    if isinstance(value, list):
        return [_without_spans(v) for v in value]
    return value


class CountRange(BaseModel):
    """An inclusive range of counts, resolved from the seed at layout time.

    >>> CountRange(min=2, max=4).sample(random.Random(0)) in (2, 3, 4)
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: int = Field(ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> CountRange:
        if self.min > self.max:
            raise ValueError(f"count range {self.min}..{self.max} is empty; expected min <= max")
        if self.max > MAX_COUNT:
            raise ValueError(f"count {self.max} is over the limit of {MAX_COUNT}")
        return self

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.min, self.max)

    def __str__(self) -> str:
        return f"{self.min}..{self.max}"


class ObjectGroup(Node):
    """A declared group of like objects: ``object mug "a red mug" count 2 color red``.

    ``class_name`` (``class`` in JSON) is the lower-case singular noun, compounds kept, as GenEval
    names classes ("teddy bear"); it defaults to the group's name with underscores as spaces.
    """

    name: str
    phrase: str
    class_name: str = Field(default="", alias="class")
    count: int | CountRange = 1
    color: str | None = None
    size: str | float | None = None
    at: Box | None = None
    aspect: float | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _defaults_and_limits(self) -> ObjectGroup:
        if not self.class_name:
            object.__setattr__(self, "class_name", self.name.replace("_", " ").lower())
        if isinstance(self.count, int) and not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"count {self.count} is outside 1..{MAX_COUNT}")
        if self.color is not None and self.color not in COLORS:
            raise ValueError(f"unknown color {self.color!r}; expected one of {', '.join(COLORS)}")
        if isinstance(self.size, str) and self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}; expected one of {', '.join(SIZES)}")
        if isinstance(self.size, float) and not 0 < self.size <= 1:
            raise ValueError(f"size {self.size} is outside (0, 1]")
        if self.at is not None and not valid_box(self.at):
            raise ValueError(f"fixed box {self.at} is outside 0..1 or empty")
        if self.aspect is not None and not (math.isfinite(self.aspect) and 0.05 <= self.aspect <= 20):
            raise ValueError(f"aspect {self.aspect} is outside 0.05..20 (a width / height ratio)")
        for key, value in self.attributes.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"attribute {key!r} is {value}; expected a finite number")
        return self

    @property
    def min_count(self) -> int:
        return self.count.min if isinstance(self.count, CountRange) else self.count

    def instance_ids(self, count: int | None = None) -> list[str]:
        n = self.min_count if count is None else count
        return [instance_id(self.name, i) for i in range(n)]


class Ref(Node):
    """A reference to a whole group (``mug``) or one instance (``mug[1]``)."""

    group: str
    index: int | None = None

    def __str__(self) -> str:
        return self.group if self.index is None else f"{self.group}[{self.index}]"


class RelationStatement(Node):
    """A relation as written: between groups or instances, hard or soft (``prefer``)."""

    subject: Ref
    predicate: str
    objects: list[Ref]
    hard: bool = True
    weight: float = 1.0

    @field_validator("weight")
    @classmethod
    def _finite_weight(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 < value <= 1000):
            raise ValueError(f"weight {value} is outside (0, 1000]")
        return value

    @field_validator("predicate")
    @classmethod
    def _known_predicate(cls, value: str) -> str:
        from compose.relations import RELATIONS

        if value not in RELATIONS:
            raise ValueError(f"unknown relation {value!r}; expected one of {', '.join(RELATIONS)}")
        return value


class Forbidden(Node):
    """A thing that must not appear (``forbid dog``): a class name or a phrase."""

    name: str


class Requirement(Node):
    """An explicit check: ``require count(mug) == 2``."""

    target: str
    op: Literal["==", "!=", ">=", "<=", ">", "<"]
    value: int = Field(ge=0)

    def holds(self, count: int) -> bool:
        """Whether a found ``count`` satisfies this requirement.

        >>> Requirement(target="mug", op=">=", value=2).holds(3)
        True
        """
        return {
            "==": count == self.value, "!=": count != self.value, ">=": count >= self.value,
            "<=": count <= self.value, ">": count > self.value, "<": count < self.value,
        }[self.op]


class SceneWarning(Node):
    """Something the front end dropped or guessed, with why."""

    message: str


class Instance(BaseModel):
    """One derived instance (``mug#1``) of a group; part of the scene JSON, never written."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    id: str
    group: str
    index: int
    class_name: str = Field(alias="class")
    phrase: str
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)


class Relation(BaseModel):
    """One relation between instances, expanded from a statement; part of the scene JSON."""

    model_config = ConfigDict(frozen=True)

    subject: str
    predicate: str
    object: str | list[str]
    hard: bool = True
    weight: float = 1.0
    statement: int

    @property
    def object_ids(self) -> list[str]:
        return list(self.object) if isinstance(self.object, list) else [self.object]


def instance_id(group: str, index: int) -> str:
    """The id of a group's ``index``-th instance.

    >>> instance_id("mug", 1)
    'mug#1'
    """
    return f"{group}#{index}"


class Scene(Node):
    """A whole scene: canvas, global prompts, object groups, relations, forbidden things."""

    canvas: tuple[int, int] = (512, 512)
    background: str | None = None
    style: str | None = None
    negative: str | None = None
    seed: int | None = None
    objects: list[ObjectGroup] = Field(default_factory=list)
    statements: list[RelationStatement] = Field(default_factory=list)
    forbidden: list[Forbidden] = Field(default_factory=list)
    requirements: list[Requirement] = Field(default_factory=list)
    prompt: str | None = None
    warnings: list[SceneWarning] = Field(default_factory=list)

    @field_validator("canvas")
    @classmethod
    def _canvas_positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not (8 <= value[0] <= 16384 and 8 <= value[1] <= 16384):
            raise ValueError(f"canvas {value[0]} x {value[1]} is outside 8..16384 pixels a side")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, value: int | None) -> int | None:
        from compose.seeds import MAX_SEED

        if value is not None and not 0 <= value <= MAX_SEED:
            raise ValueError(f"seed {value} is outside 0..{MAX_SEED}")
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> Scene:
        groups = {}
        for group in self.objects:
            if group.name in groups:
                raise ValueError(f"object {group.name!r} is declared twice")
            groups[group.name] = group
        for statement in self.statements:
            for ref in [statement.subject, *statement.objects]:
                if ref.group not in groups:
                    raise ValueError(f"relation refers to unknown object {ref.group!r}")
                count = groups[ref.group].count
                top = count.max if isinstance(count, CountRange) else count
                if ref.index is not None and not 0 <= ref.index < top:
                    raise ValueError(f"instance {ref} is out of range (count {count})")
        check_limits(self)
        return self

    # --- derived views -------------------------------------------------------------------

    def group(self, name: str) -> ObjectGroup:
        for group in self.objects:
            if group.name == name:
                return group
        raise KeyError(name)

    def instances(self, counts: dict[str, int] | None = None) -> list[Instance]:
        """The instances, group by group. ``counts`` fixes ranged counts (default: their min)."""
        out = []
        for group in self.objects:
            n = (counts or {}).get(group.name, group.min_count)
            attributes = dict(group.attributes)
            if group.color is not None:
                attributes["color"] = group.color
            if group.size is not None:
                attributes["size"] = group.size
            for i in range(n):
                out.append(Instance(id=instance_id(group.name, i), group=group.name, index=i,
                                    class_name=group.class_name, phrase=group.phrase,
                                    attributes=attributes))
        return out

    def resolve_counts(self, seed: int | None = None) -> dict[str, int]:
        """Counts per group, ranges drawn from ``seed`` (the scene's seed, else 0).

        >>> s = Scene(objects=[ObjectGroup(name="dot", phrase="dots", count=CountRange(min=2, max=5))])
        >>> s.resolve_counts(1) == s.resolve_counts(1)
        True
        """
        rng = random.Random(f"counts:{self.seed if seed is None else seed}")
        return {g.name: g.count.sample(rng) if isinstance(g.count, CountRange) else g.count
                for g in self.objects}

    def expand(self, ref: Ref, counts: dict[str, int] | None = None) -> list[str]:
        """Instance ids a reference covers."""
        group = self.group(ref.group)
        n = (counts or {}).get(group.name, group.min_count)
        if ref.index is not None:
            return [instance_id(group.name, ref.index)] if ref.index < n else []
        return group.instance_ids(n)

    def relations(self, counts: dict[str, int] | None = None) -> list[Relation]:
        """Every statement expanded to instances: a group relation once for every pair."""
        out = []
        for k, st in enumerate(self.statements):
            subjects = self.expand(st.subject, counts)
            if st.predicate == "between":
                firsts = self.expand(st.objects[0], counts)
                seconds = self.expand(st.objects[1], counts)
                for s in subjects:
                    for a in firsts:
                        for b in seconds:
                            if len({s, a, b}) == 3:
                                out.append(Relation(subject=s, predicate=st.predicate, object=[a, b],
                                                    hard=st.hard, weight=st.weight, statement=k))
                continue
            for s in subjects:
                for o in self.expand(st.objects[0], counts):
                    if s != o:
                        out.append(Relation(subject=s, predicate=st.predicate, object=o,
                                            hard=st.hard, weight=st.weight, statement=k))
        return out

    @property
    def forbid(self) -> list[str]:
        return [f.name for f in self.forbidden]

    # --- JSON --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The scene JSON: the declared scene plus its derived ``objects`` and ``relations``.

        Derived keys (``objects``, ``relations``, ``forbid``) are for readers; they are
        recomputed, never read back. Declared groups are under ``groups``.
        """
        declared = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        declared["groups"] = declared.pop("objects")
        out: dict[str, Any] = {"version": SCENE_FORMAT_VERSION, "canvas": declared.pop("canvas")}
        for key in ("background", "style", "negative", "seed", "prompt"):
            if key in declared:
                out[key] = declared.pop(key)
        out["objects"] = [i.model_dump(mode="json", by_alias=True) for i in self.instances()]
        out["relations"] = [r.model_dump(mode="json") for r in self.relations()]
        out["forbid"] = self.forbid
        out.update(declared)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        """Read the scene JSON (as :meth:`to_dict` writes it); raises ``SceneError`` E005."""
        if not isinstance(data, dict):
            raise SceneError("E005", reason=f"expected a JSON object, got {type(data).__name__}")
        if "groups" not in data and any(k in data for k in ("objects", "relations", "forbid")):
            found = ", ".join(repr(k) for k in data if k in ("objects", "relations", "forbid")) or "no key"
            raise SceneError("E005", reason=f"no 'groups' (the declared objects): found {found}; 'objects', "
                                            "'relations' and 'forbid' are derived, written for readers, never read")
        data = {k: v for k, v in data.items() if k not in ("objects", "relations", "forbid", "version")}
        if "groups" in data:
            data["objects"] = data.pop("groups")
        try:
            scene = cls.model_validate(data)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise SceneError("E005", reason=_short_validation_message(exc)) from exc
        except RecursionError:
            raise SceneError("E005", reason="nested too deep") from None
        if not (scene.objects or scene.forbidden or scene.requirements):  # as an empty program is (E002)
            raise SceneError("E002", what="the scene's 'groups'",
                             expected='objects such as {"name": "cat", "phrase": "a cat"}')
        check_semantics(scene)
        return scene

    @classmethod
    def from_json(cls, text: str) -> Scene:
        from compose.io import loads_json

        try:
            data = loads_json(text)
        except json.JSONDecodeError as exc:
            raise SceneError("E005", reason=f"line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
        except ValueError as exc:
            raise SceneError("E005", reason=str(exc)) from exc
        return cls.from_dict(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The published JSON schema of the scene JSON's declared part."""
        schema = cls.model_json_schema(by_alias=True, mode="serialization")
        props = schema.setdefault("properties", {})
        props["groups"] = props.pop("objects")
        props["version"] = {"const": SCENE_FORMAT_VERSION}
        props["objects"] = {"type": "array", "items": Instance.model_json_schema(by_alias=True),
                            "description": "derived instances (read-only)"}
        props["relations"] = {"type": "array", "items": Relation.model_json_schema(),
                              "description": "statements expanded to instances (read-only)"}
        props["forbid"] = {"type": "array", "items": {"type": "string"},
                           "description": "class names that must not appear (read-only)"}
        schema["title"] = "compose scene"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        return schema

    # --- networkx view -----------------------------------------------------------------

    def to_graph(self):
        """A ``networkx.MultiDiGraph``: one node per instance, one edge per relation.

        Nodes carry the instance's group, class, phrase and attributes; edges carry the
        predicate (as the edge key), hard, weight, the statement index and the references
        as written, so that :meth:`from_graph` rebuilds the scene.

        >>> g = Scene(objects=[ObjectGroup(name="a", phrase="a"), ObjectGroup(name="b", phrase="b")],
        ...           statements=[RelationStatement(subject=Ref(group="a"), predicate="above",
        ...                                         objects=[Ref(group="b")])]).to_graph()
        >>> list(g.edges(keys=True))
        [('a#0', 'b#0', 'above')]
        """
        import networkx as nx

        graph = nx.MultiDiGraph()
        header = self.model_dump(mode="json", by_alias=True,
                                 exclude={"objects", "statements"}, exclude_none=True)
        graph.graph.update(header)
        groups = {g.name: g.model_dump(mode="json", by_alias=True, exclude_none=True)
                  for g in self.objects}
        graph.graph["group_order"] = list(groups)
        # groups whose range may resolve to no instance have no node; keep their declaration
        graph.graph["empty_groups"] = [groups[g.name] for g in self.objects if g.min_count == 0]
        for inst in self.instances():
            graph.add_node(inst.id, group=inst.group, index=inst.index, **{"class": inst.class_name},
                           phrase=inst.phrase, attributes=dict(inst.attributes),
                           declaration=groups[inst.group])
        for k, st in enumerate(self.statements):
            refs = {"subject_ref": st.subject.model_dump(mode="json", exclude_none=True),
                    "object_refs": [r.model_dump(mode="json", exclude_none=True) for r in st.objects]}
            if st.span is not None:
                refs["span"] = st.span.model_dump(mode="json", exclude_none=True)
            relations = [r for r in self.relations() if r.statement == k]
            if not relations:  # keep statements that cover no instance pair (count 0)
                graph.graph.setdefault("empty_statements", []).append(
                    {"index": k, "predicate": st.predicate, "hard": st.hard, "weight": st.weight, **refs})
            for rel in relations:
                for role, obj in enumerate(rel.object_ids):
                    key = (st.predicate if len(rel.object_ids) == 1
                           else f"{st.predicate}:{rel.object_ids[1 - role]}:{role}")
                    if graph.has_edge(rel.subject, obj, key):  # the same fact said twice keeps both edges
                        key = f"{key}@{k}"
                    graph.add_edge(rel.subject, obj, key=key,
                                   predicate=st.predicate, hard=st.hard, weight=st.weight,
                                   statement=k, role=role, **refs)
        return graph

    @classmethod
    def from_graph(cls, graph) -> Scene:
        """Rebuild a scene from :meth:`to_graph`'s view (nodes, edges and graph attributes)."""
        header = {k: v for k, v in graph.graph.items()
                  if k not in ("group_order", "empty_statements", "empty_groups")}
        declarations: dict[str, dict] = {}
        for _, data in graph.nodes(data=True):
            declarations.setdefault(data["group"], data["declaration"])
        for declaration in graph.graph.get("empty_groups", []):
            declarations.setdefault(declaration["name"], declaration)
        statements: dict[int, dict] = {}
        for _, _, data in graph.edges(data=True):
            statements.setdefault(data["statement"], data)
        for data in graph.graph.get("empty_statements", []):
            statements.setdefault(data["index"], data)
        objects = [declarations[name] for name in graph.graph.get("group_order", declarations)
                   if declarations.get(name) is not None]
        built = [{"subject": d["subject_ref"], "predicate": d["predicate"], "objects": d["object_refs"],
                  "hard": d["hard"], "weight": d["weight"], **({"span": d["span"]} if "span" in d else {})}
                 for _, d in sorted(statements.items())]
        return cls.model_validate({**header, "objects": objects, "statements": built})


def _top(group: ObjectGroup) -> int:
    return group.count.max if isinstance(group.count, CountRange) else group.count


def check_limits(scene: Scene) -> None:
    """E116 (exit 3) for a scene over the limits of :mod:`compose.limits`: too many instances,
    too many relations once statements are expanded, too many canvas pixels. Counted from the
    declarations (ranges at their maximum), so nothing is expanded to find out."""
    from compose.limits import MAX_CANVAS_PIXELS, MAX_INSTANCES, MAX_RELATIONS

    pixels = scene.canvas[0] * scene.canvas[1]
    if pixels > MAX_CANVAS_PIXELS:
        raise SceneSemanticError("E116", count=pixels, what=f"canvas pixels ({scene.canvas[0]} x {scene.canvas[1]})",
                                 limit=MAX_CANVAS_PIXELS, hint="use a smaller canvas")
    tops = {g.name: _top(g) for g in scene.objects}
    total = sum(tops.values())
    if total > MAX_INSTANCES:
        raise SceneSemanticError("E116", count=total, what="object instances", limit=MAX_INSTANCES,
                                 hint="use fewer objects or smaller counts")
    relations = 0
    for st in scene.statements:
        n = 1
        for ref in [st.subject, *st.objects]:
            n *= 1 if ref.index is not None else tops.get(ref.group, 1)
        relations += n
    if relations > MAX_RELATIONS:
        raise SceneSemanticError("E116", count=relations, what="relations between instances", limit=MAX_RELATIONS,
                                 hint="relate fewer groups, or groups with smaller counts")


def check_semantics(scene: Scene) -> None:
    """The checks the scene language makes of a program, for a scene from elsewhere (scene
    JSON): names are identifiers (E114), a relation has the objects its predicate takes (E113),
    nothing is related to itself (E106), a fixed box holds one instance (E114)."""
    from compose.relations import RELATIONS

    for group in scene.objects:
        if not is_name(group.name):
            raise SceneSemanticError("E114", what="object name", value=group.name,
                                     expected="a letter then letters, digits or '_', not a keyword")
        if group.at is not None and not (isinstance(group.count, int) and group.count == 1):
            raise SceneSemanticError("E114", what="fixed box for", value=f"{group.name} (count {group.count})",
                                     expected="count 1: one box holds one instance")
    for st in scene.statements:
        arity = RELATIONS[st.predicate].arity
        if len(st.objects) != arity:
            raise SceneSemanticError("E113", predicate=st.predicate, expected=arity, got=len(st.objects))
        refs = [st.subject, *st.objects]
        for i, a in enumerate(refs):
            for b in refs[i + 1:]:
                if a.group == b.group and (a.index is None or b.index is None or a.index == b.index):
                    if a.index is None and b.index is None and _top(scene.group(a.group)) > 1 \
                            and st.predicate != "between":
                        continue  # mug left_of mug between a group's instances: each pair once
                    raise SceneSemanticError("E106", name=str(a if a.index is not None else b),
                                             predicate=st.predicate.replace("_", " "))


def _short_validation_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where or 'scene'}: {err.get('msg', '')}")
    return "; ".join(parts)
