"""Step 3 of reading a prompt: items to groups, statements and forbidden things.

A relation's subject is the noun phrase just before it (so chains read "a star above a moon
above a house" as star above moon, moon above house), or all the phrases joined by "and" before
it ("a car and a dog under a horse"), unless a verb links it: then the verb's subject from the
dependency parse, with its conjuncts. Relations joined by "and" share their object ("above and
to the right of a dog"). Later mentions ("the square") bind to the earlier group of their class;
pronouns ("on it") to the last other one. Absolute positions ("a cat on the left and a dog on
the right") become relations between the things they place. Whatever is not understood is kept
as a coded warning (:class:`compose.errors.Warnings`).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from compose.errors import warning_text
from compose.prompts import lexicon as lx
from compose.prompts.items import (
    _FINITE_TAGS,
    _PLURAL_VERBS,
    _RECIPROCALS,
    Dropped,
    Item,
    Link,
    NounPhrase,
    Position,
    PredicateAdjective,
    RelationPhrase,
    Separator,
    _Reader,
)
from compose.prompts.nlp import coarse_tag
from compose.prompts.tokens import _RELATION_WORDS
from compose.relations import RELATIONS
from compose.scene import (
    KEYWORDS,
    CountRange,
    Forbidden,
    ObjectGroup,
    Ref,
    RelationStatement,
    Requirement,
    Scene,
    SceneWarning,
    Span,
)
from compose.vocabulary import (
    MAX_COUNT,
)

#: Count of a plural noun without a number ("apples on a table").
BARE_PLURAL_COUNT = (2, 4)

#: Relations whose object is a thing with a place in the picture: "a kite above a field" draws
#: the field; "a cat in a kitchen" only sets the scene.
_THING_RELATIONS = frozenset({"above", "below", "left_of", "right_of", "next_to", "near", "behind",
                              "in_front_of"})

#: Words that carry no content of their own: a prompt may leave them unread.
_FUNCTION_WORDS = (lx.DEFINITE | lx.INDEFINITE | lx.SEPARATORS | lx.NEUTRAL_VERBS | lx.RELATION_ADVERBS
                   | {"of", "with", "there", "here", "is", "are", "some", "any", "each", "every", "all",
                      "in", "on", "at", "to", "by", "its", "their", "his", "her", "very", "please",
                      "also", "too", "just", "only", "both", "together"})

#: Names the scene language reserves (and ``x``, a name, but one that reads as ``canvas W x H``);
#: a group named so gets a suffix.
_RESERVED_NAMES = KEYWORDS | {"x"}


@dataclass
class _Group:
    name: str
    class_name: str
    phrase: str
    span: Span
    count: int | CountRange = 1
    color: str | None = None
    size: str | None = None
    attributes: dict = field(default_factory=dict)
    presupposed: bool = False  # first named with "the": a later "a ..." introduces it


class _SceneBuilder:
    """Step 3: items to groups, statements and forbidden things."""

    def __init__(self, reader: _Reader, items: list[Item]) -> None:
        self.r = reader
        self.items = items
        self.groups: dict[str, _Group] = {}
        self.statements: list[RelationStatement] = []
        self.statement_keys: set[tuple] = set()
        self.parts: dict[str, list[str]] = {}  # a group split into parts: its name -> part names
        self.forbidden: list[Forbidden] = []
        self.requirements: list[Requirement] = []
        self.hints: dict[str, list[tuple[str, Span]]] = {}
        self.last_class: NounPhrase | None = None
        self.relation_object: str | None = None  # the relation whose object is being placed

    # -- groups ---------------------------------------------------------------------------------

    def new_name(self, class_name: str) -> str:
        base = re.sub(r"\W+", "_", class_name.lower()).strip("_") or "thing"
        if base[0].isdigit():
            base = f"object_{base}"
        if base in _RESERVED_NAMES or base in _RELATION_WORDS:
            base = f"{base}_object"
        name, k = base, 1
        while name in self.groups:
            k += 1
            name = f"{base}_{k}"
        return name

    def count_of(self, np_: NounPhrase) -> int | CountRange:
        count = np_.count
        if count is None:
            count = BARE_PLURAL_COUNT if np_.plural and not np_.indefinite else 1
        if isinstance(count, tuple):
            return CountRange(min=count[0], max=count[1])
        if count > MAX_COUNT:
            self.r.warn("W207", np_.start, np_.end, count=count, limit=MAX_COUNT)
            return MAX_COUNT
        return count

    def place(self, np_: NounPhrase, exclude: Sequence[str] = ()) -> str | None:
        """The group ``np_`` names: an earlier group it refers to, or a new one."""
        r = self.r
        if np_.pronoun:
            for name in reversed(list(self.groups)):
                if name not in exclude:
                    np_.resolved = name
                    return name
            r.warn("W208", np_.start, np_.end)
            return None
        if np_.one:
            if self.last_class is None:
                r.warn("W203", np_.start, np_.end)
                return None
            np_.head, np_.known = self.last_class.head, self.last_class.known
            np_.written_head = self.last_class.written_head
        if not np_.head:
            r.warn("W203", np_.start, np_.end)
            return None
        if np_.count == 0:
            np_.negated = True
        if np_.negated:
            start = np_.neg_start if np_.neg_start is not None else np_.start
            present = [g for g in self.groups.values() if g.class_name == np_.head]
            if present:  # "a car on a street with no other cars": exactly the cars named
                counts = [g.count for g in present]
                if all(isinstance(c, int) for c in counts) and not any(
                        q.target == np_.head for q in self.requirements):
                    self.requirements.append(Requirement(target=np_.head, op="==", value=sum(counts),  # type: ignore[arg-type]
                                                         span=r.span(start, np_.end)))
            elif not any(f.name == np_.head for f in self.forbidden):
                self.forbidden.append(Forbidden(name=np_.head, span=r.span(start, np_.end)))
            np_.role = "forbidden"
            return None
        if np_.head in lx.FRAMING_NOUNS and np_.definite and not np_.known:
            np_.role = "framing"  # "in this picture"
            r.consumed.update(range(np_.start, np_.end))
            return None
        if np_.head in lx.SETTING_NOUNS and not (  # "above a green field": a described thing
                self.relation_object in _THING_RELATIONS and np_.head not in lx.SETTING_ONLY
                and np_.indefinite and (np_.color or np_.tone or np_.size or np_.adjectives)):
            phrase = r.chars(np_.start, np_.end)
            if phrase not in r.background:
                r.background.append(phrase)
            np_.role = "background"
            r.consumed.update(range(np_.start, np_.end))
            return None
        self.last_class = np_
        if (np_.definite or (np_.count is None and not np_.indefinite and not np_.possessive)) \
                and not np_.one:
            found = self.earlier(np_)
            if found is not None:
                self.refine(found, np_)
                np_.resolved = found
                return found
        elif not np_.one:
            # "the square is above the circle. a square and a circle": introduced after use
            found = self.earlier(np_, presupposed=True)
            if found is not None:
                self.groups[found].presupposed = False
                self.refine(found, np_)
                np_.resolved = found
                return found
        name = self.declare(np_)
        self.groups[name].presupposed = np_.definite
        return name

    def earlier(self, np_: NounPhrase, presupposed: bool = False) -> str | None:
        candidates = [g for g in self.groups.values() if g.class_name == np_.head
                      and (g.presupposed or not presupposed)]
        if presupposed:
            count = self.count_of(np_)
            candidates = [g for g in candidates if g.count == count
                          and (g.color == np_.color or np_.color is None)]
        if np_.color is not None:
            same = [g for g in candidates if g.color in (None, np_.color)]
            candidates = same
        if np_.count is not None and not isinstance(np_.count, tuple):
            same = [g for g in candidates if g.count == np_.count]
            candidates = same or candidates
        return candidates[-1].name if candidates else None

    def refine(self, name: str, np_: NounPhrase) -> None:
        group = self.groups[name]
        if group.color is None and np_.color is not None:
            group.color = np_.color
        if group.size is None and np_.size is not None:
            group.size = np_.size
        for key, value in self.attributes(np_).items():
            group.attributes.setdefault(key, value)

    def attributes(self, np_: NounPhrase) -> dict:
        out: dict = {}
        if np_.material:
            out["material"] = np_.material
        if np_.tone and np_.color is None:
            out["color"] = np_.tone
            self.r.warn("W204", np_.start, np_.end, color=np_.tone)
        if np_.adjectives:
            out["adjectives"] = " ".join(np_.adjectives)
        if np_.kind:
            out["kind"] = np_.kind
        if np_.shape:
            out["shape"] = np_.shape
        if np_.extra_colors:
            out["other_colors"] = " ".join(np_.extra_colors)
            self.r.warn("W205", np_.start, np_.end, color=np_.color, others=", ".join(np_.extra_colors))
        return out

    def declare(self, np_: NounPhrase) -> str:
        name = self.new_name(np_.head)
        span = self.r.span(np_.start, np_.end)
        self.groups[name] = _Group(name=name, class_name=np_.head, phrase=span.text or np_.head,
                                   span=span, count=self.count_of(np_), color=np_.color,
                                   size=np_.size, attributes=self.attributes(np_))
        np_.resolved = name
        return name

    # -- statements -----------------------------------------------------------------------------

    def relate(self, subjects: list[NounPhrase], rel: RelationPhrase, objects: list[Ref | None],
               obj_nps: list[NounPhrase]) -> None:
        r = self.r
        if rel.negated:
            r.warn("W217", rel.start, rel.end)
            return
        if any(o is None for o in objects):
            roles = {o.role for o in obj_nps if o.resolved is None}
            if not roles & {"background", "framing", "forbidden"}:
                r.warn("W213", rel.start, rel.end)
            return
        for subject in subjects:
            if subject.resolved is None:
                if subject.role not in ("background", "framing", "forbidden"):
                    r.warn("W214", rel.start, rel.end)
                continue
            refs = [o for o in objects if o is not None]
            if len(refs) != RELATIONS[rel.name].arity:
                r.warn("W215", rel.start, rel.end, arity=RELATIONS[rel.name].arity, found=len(refs))
                continue
            # a group split by "one black and one white" relates through every part
            object_sets = [refs] if len(refs) != 1 or refs[0].index is not None else \
                [[Ref(group=name)] for name in self.parts.get(refs[0].group, [refs[0].group])]
            for name in self.parts.get(subject.resolved, [subject.resolved]):
                for object_refs in object_sets:
                    if not _distinct([Ref(group=name), *object_refs]):
                        r.warn("W216", rel.start, rel.end, name=name)
                        continue
                    statement = RelationStatement(subject=Ref(group=name), predicate=rel.name,
                                                  objects=object_refs,
                                                  span=self.statement_span(subject, rel, obj_nps))
                    key = (name, statement.predicate, tuple(map(str, object_refs)))
                    if key not in self.statement_keys:
                        self.statement_keys.add(key)
                        self.statements.append(statement)

    def statement_span(self, subject: NounPhrase, rel: RelationPhrase, objects: list[NounPhrase]) -> Span:
        positions = [subject.start, subject.end, rel.start, rel.end] + \
                    [p for o in objects for p in (o.start, o.end)]
        return self.r.span(min(positions), max(positions))

    def ref_pair(self, np_: NounPhrase) -> list[Ref] | None:
        """``[x[0], x[1]]`` for a group of exactly two ("between two trees"), else ``None``."""
        if np_.resolved is None:
            return None
        group = self.groups[np_.resolved]
        if group.count != 2:
            return None
        return [Ref(group=group.name, index=0), Ref(group=group.name, index=1)]

    def ref(self, np_: NounPhrase) -> Ref | None:
        return None if np_.resolved is None else Ref(group=np_.resolved)

    def phrase_of(self, token_index: int, before: list[NounPhrase]) -> NounPhrase | None:
        for np_ in before:
            if self.r.words[np_.start].index <= token_index <= self.r.words[np_.end - 1].index:
                return np_
        return None

    def governor_subjects(self, rel: RelationPhrase, before: list[NounPhrase]) -> list[NounPhrase] | None:
        """What a relation phrase attaches to in the dependency parse, as noun phrases before it.

        A phrase attached to a noun ("a moon above a house") has that noun's phrase as subject;
        one attached to a verb ("sitting on", "is next to") has the verb's subject, or the noun
        the verb describes ("a car parked next to"). ``None`` when the parse says nothing usable.
        """
        doc = self.r.parse
        if doc is None:
            return None
        first, last = self.r.words[rel.start].index, self.r.words[rel.end - 1].index
        governor = None
        for t in doc[first:last + 1]:
            if not first <= t.head.i <= last:
                governor = t.head
                break
        if governor is None or governor.i > first:
            return None
        np_ = self.phrase_of(governor.i, before)
        if np_ is not None:
            return [np_]
        if coarse_tag(governor.tag_, governor.text) in ("VERB", "AUX"):
            return self.verb_subjects(governor.i, before)
        return None

    def verb_subjects(self, token_index: int, before: list[NounPhrase]) -> list[NounPhrase] | None:
        """The subjects of a verb by the dependency parse, as noun phrases before it."""
        doc = self.r.parse
        if doc is None:
            return None
        token = doc[token_index]
        for _ in range(4):
            if token.dep_ in ("acl", "relcl") and token.head.i != token.i:
                heads = [token.head]
                break
            subjects = [c for c in token.children if c.dep_ in ("nsubj", "nsubjpass", "expl")]
            if subjects:
                heads = subjects
                break
            if token.dep_ in ("conj", "xcomp", "ccomp", "aux", "auxpass") and token.head.i != token.i:
                token = token.head
                continue
            return None
        else:
            return None
        found: list[NounPhrase] = []
        for head in heads:
            for tok in [head, *head.conjuncts]:
                np_ = self.phrase_of(tok.i, before)
                if np_ is not None and np_ not in found:
                    found.append(np_)
        return found or None

    def build(self) -> Scene:
        r = self.r
        items = self.items
        sentence_nps: list[NounPhrase] = []  # phrases of this sentence, in order
        subjects: list[NounPhrase] = []  # the coordinated phrases that are not a relation's object
        last: NounPhrase | None = None
        links: list[Link] = []
        pending: tuple[RelationPhrase, list[NounPhrase]] | None = None
        between: list[NounPhrase] = []
        inverted: tuple[RelationPhrase, list[NounPhrase]] | None = None
        headless: list[NounPhrase] = []
        waiting: list[Position] = []
        elaboration: list[NounPhrase] = []  # headless phrases that split the last group
        related: tuple[list[NounPhrase], NounPhrase] | None = None  # last relation: subjects, object
        fresh: NounPhrase | None = None  # the subject of a new clause, named after a relation
        also: list[RelationPhrase] = []  # "above and to the right of": relations sharing an object
        joined: list[NounPhrase] = []  # phrases joined by "and" since the last relation
        last_separator: str | None = None
        after_separator = True
        k = 0
        while k < len(items):
            item = items[k]
            k += 1
            if isinstance(item, NounPhrase):
                if not item.head and not item.pronoun and not item.one:
                    if self.elaborates(items, k - 1, last, elaboration):
                        elaboration.append(item)  # "two cats, one black and one white"
                        if self.elaborate(last, elaboration):  # type: ignore[arg-type]
                            elaboration = []
                        continue
                    headless.append(item)  # "a red and a blue cube": wait for the head
                    continue
                if elaboration:
                    self.drop_elaboration(elaboration)
                    elaboration = []
                for h in headless:
                    h.head, h.known, h.written_head, h.plural = item.head, item.known, item.written_head, h.plural
                    self.place(h)
                    if h.resolved:
                        sentence_nps.append(h)
                        subjects.append(h)
                headless = []
                wearers = self.wearers(item, pending, links, last)
                if wearers:  # "a man in a red shirt", "a corgi wearing sunglasses"
                    for wearer in wearers:
                        group = self.groups[wearer.resolved]  # type: ignore[index]
                        r.consumed.update(range(item.start, item.end))
                        group.attributes["wearing"] = ", ".join(filter(None, [
                            group.attributes.get("wearing"), r.chars(item.start, item.end)]))
                    pending, links = None, []
                    continue
                exclude = [s.resolved for s in (pending[1] if pending else []) if s.resolved]
                self.relation_object = pending[0].name if pending else None
                self.place(item, exclude=exclude)
                self.relation_object = None
                if item.resolved is not None:
                    for position in waiting:
                        for where in position.where.split():
                            self.hints.setdefault(item.resolved, []).append(
                                (where, r.span(position.start, position.end)))
                    waiting = []
                if item.pronoun and item.resolved is None:
                    continue
                if pending is not None:
                    rel, subs = pending
                    if rel.name == "between":
                        if len(between) == 0 and self.ref_pair(item) is not None:
                            self.relate(subs, rel, self.ref_pair(item), [item])  # type: ignore[arg-type]
                            pending, last = None, item
                        else:
                            between.append(item)
                            if len(between) == 2:
                                self.relate(subs, rel, [self.ref(b) for b in between], between)
                                pending, last, between = None, item, []
                    else:
                        for each in [x for phrase in [*also, rel] for x in _each_relation(phrase)]:
                            self.relate(subs, each, [self.ref(item)], [item])
                        pending, last = None, item
                    if pending is None:
                        related = (subs, item)
                        also, joined = [], []
                    sentence_nps.append(item)
                    links = []
                    after_separator = False
                    continue
                if inverted is not None:  # "on the table is a vase": the object came first
                    rel, objs = inverted
                    if len(objs) < RELATIONS[rel.name].arity and not (
                            objs and self.ref_pair(objs[0]) is not None):
                        objs.append(item)
                        sentence_nps.append(item)
                        continue
                    pair = self.ref_pair(objs[0]) if rel.name == "between" and len(objs) == 1 else None
                    self.relate([item], rel, pair or [self.ref(o) for o in objs], objs)
                    inverted = None
                actions = [x.word.text for x in links
                           if x.word.pos == "VERB" and x.word.text not in lx.NEUTRAL_VERBS]
                if actions and last is not None and item.resolved is not None:
                    r.warn("W218", links[0].start, item.end, words=" ".join(actions),
                           subject=r.chars(last.start, last.end), object=r.chars(item.start, item.end))
                if after_separator and subjects and not any(isinstance(x, Link) for x in links):
                    subjects.append(item)
                else:
                    subjects = [item]
                if after_separator and joined and not links and last_separator in ("and", ",", "&"):
                    joined.append(item)
                else:
                    joined = [item]
                # a new clause's subject after a finished relation: "..., and a candle to the right of"
                fresh = item if after_separator and not links and related is not None else None
                sentence_nps.append(item)
                last = item
                links = []
                after_separator = False
                continue
            if isinstance(item, RelationPhrase):
                if pending is not None and not between and k >= 3 and items[k - 3] is pending[0] \
                        and isinstance(items[k - 2], Separator) and items[k - 2].word in ("and", ",", "&"):
                    also.append(pending[0])  # "above and to the right of a dog"
                    pending = (item, pending[1])
                    continue
                if pending is not None and not between:
                    also = []
                    r.warn("W211", pending[0].start, pending[0].end)
                    pending = None
                # "next to each other": the coordinated phrases relate among themselves
                if item.reciprocal:
                    self.relate_reciprocal(subjects, item)
                    continue
                if k < len(items) and isinstance(items[k], (Link, NounPhrase, Dropped)) and \
                        self.reciprocal(items, k):
                    k = self.skip_reciprocal(items, k)
                    self.relate_reciprocal(subjects, item)
                    continue
                if last is None or not sentence_nps:
                    inverted = (item, [])
                    continue
                subs = None
                if related is not None and related[1] is last and k >= 2 and \
                        isinstance(items[k - 2], Separator) and items[k - 2].word == "and":
                    subs = related[0]  # "left of the cat and right of the horse": the same subject
                if not links and subs is None and (fresh is last or self.r.tagged_as_verb(sentence_nps)):
                    subs = [last]  # a new clause, or a parse that took a noun for a verb: adjacency
                subs = subs or self.governor_subjects(item, sentence_nps)
                verb_links = [x for x in links if x.word.pos in ("VERB", "AUX")]
                if verb_links and subs is None:
                    subs = self.verb_subjects(verb_links[0].word.index, sentence_nps)
                    if subs is None:
                        finite = [x for x in verb_links if x.word.tag in _FINITE_TAGS]
                        if finite and subjects:
                            plural = finite[0].word.text in _PLURAL_VERBS or finite[0].word.tag == "VBP"
                            subs = list(subjects) if plural and len(subjects) > 1 else [subjects[-1]]
                if len(joined) > 1 and joined[-1] is last and (not subs or (len(subs) == 1 and subs[0] in joined)) \
                        and not any(x.word.tag in _FINITE_TAGS for x in links):
                    # "a car and a dog under a horse", "a cat and a dog hidden by a tree": both
                    subs = list(joined)
                if not subs:
                    subs = [last]
                pending = (item, subs)
                between = []
                links = []
                continue
            if isinstance(item, Separator):
                last_separator = item.word
                if item.word in lx.SENTENCE_ENDS:
                    joined = []
                    sentence_nps, subjects, last, links = [], [], None, []
                    if pending is not None and not between:
                        r.warn("W211", pending[0].start, pending[0].end)
                        pending = None
                after_separator = True
                continue
            if isinstance(item, Link):
                links.append(item)
                continue
            if isinstance(item, PredicateAdjective):
                target = None
                if pending is None:
                    verb_links = [x for x in links if x.word.pos in ("VERB", "AUX")]
                    subs = self.verb_subjects(verb_links[0].word.index, sentence_nps) if verb_links else None
                    targets = subs or ([subjects[-1]] if subjects and any(
                        x.word.tag in _FINITE_TAGS for x in verb_links) else ([last] if last else []))
                    for target in targets:
                        if target.resolved:
                            self.adjective(target, item)
                            r.consumed.add(item.start)
                if pending is not None or not (target and target.resolved):
                    r.warn("W206", item.start, item.start + 1)
                continue
            if isinstance(item, Position):
                target = last if last is not None and last.resolved else None
                if target is None or after_separator:
                    waiting.append(item)  # "on the left, a cat": the position comes first
                    continue
                for where in item.where.split():  # "in the top left corner": top and left
                    self.hints.setdefault(target.resolved, []).append((where, r.span(item.start, item.end)))
                continue
            if isinstance(item, Dropped):
                r.warn("W201", item.start, item.end)
        if pending is not None:
            r.warn("W211", pending[0].start, pending[0].end)
        if inverted is not None:
            r.warn("W212", inverted[0].start, inverted[0].end)
        for h in headless:
            r.warn("W203", h.start, h.end)
        if elaboration:
            self.drop_elaboration(elaboration)
        for position in waiting:
            r.warn("W231", position.start, position.end)
        self.resolve_hints()
        if not (self.groups or self.forbidden or r.background or r.style):
            r.warn("W240", 0, len(r.words))
        return self.scene()

    def elaborates(self, items: list[Item], k: int, last: NounPhrase | None,
                   elaboration: list[NounPhrase]) -> bool:
        """Whether the headless phrase ``items[k]`` describes part of the group just named."""
        if last is None or last.resolved is None or not isinstance(items[k], NounPhrase):
            return False
        group = self.groups[last.resolved]
        if not isinstance(group.count, int) or group.count < 2 or not isinstance(items[k].count, int):
            return False
        before = items[k - 1] if k > 0 else None
        if elaboration:
            return isinstance(before, Separator) and before.word in ("and", ",") and \
                items[k - 2] is elaboration[-1]
        return isinstance(before, Separator) and before.word in (",", ":", "-", "—", "–") and \
            items[k - 2] is last

    def elaborate(self, last: NounPhrase, parts: list[NounPhrase]) -> bool:
        """Split the group of ``last`` into ``parts`` once their counts add up; ``True`` when done."""
        group = self.groups[last.resolved]  # type: ignore[index]
        total = sum(p.count for p in parts)  # type: ignore[misc]
        if total < group.count:  # type: ignore[operator]
            return False
        if total > group.count:  # type: ignore[operator]
            self.drop_elaboration(parts)
            return True
        names = [group.name]
        first, rest = parts[0], parts[1:]
        original = group.count
        group.count, group.color = first.count, first.color or group.color  # type: ignore[assignment]
        group.size = first.size or group.size
        group.phrase = f"{self.r.chars(first.start, first.end)} {group.class_name}"
        for part in rest:
            part.head, part.known, part.written_head = last.head, last.known, last.written_head
            part.indefinite = True
            names.append(self.declare(part))
            self.groups[names[-1]].phrase = f"{self.r.chars(part.start, part.end)} {group.class_name}"
            self.groups[names[-1]].span = self.r.span(part.start, part.end)
        self.parts[group.name] = names
        instances = [(name, k) for name, part in zip(names, parts)
                     for k in range(part.count)]  # type: ignore[arg-type]
        assert len(instances) == original
        for statement in self.statements:  # "between two cats, one black and one white"
            for ref in [statement.subject, *statement.objects]:
                if ref.group == group.name and ref.index is not None:
                    ref.group, ref.index = instances[ref.index]
        for statement in list(self.statements):  # what held for all of them holds for each part
            refs = [statement.subject, *statement.objects]
            if any(ref.group == group.name and ref.index is None for ref in refs):
                for name in names[1:]:
                    swap = [Ref(group=name) if ref.group == group.name and ref.index is None else ref
                            for ref in refs]
                    if _distinct(swap):
                        self.statements.append(RelationStatement(
                            subject=swap[0], predicate=statement.predicate, objects=swap[1:],
                            span=statement.span))
        return True

    def drop_elaboration(self, parts: list[NounPhrase]) -> None:
        for part in parts:
            self.r.warn("W209", part.start, part.end)

    def wearers(self, item: NounPhrase, pending, links: list[Link],
                last: NounPhrase | None) -> list[NounPhrase] | None:
        """Who wears ``item`` when it is clothing after "in" or "wearing"; else ``None``."""
        if item.head not in lx.CLOTHING or item.negated or item.definite:
            return None
        if pending is not None:
            rel, subjects = pending
            if self.r.w[rel.start:rel.end] == ["in"]:
                return [s for s in subjects if s.resolved] or None
            return None
        if links and links[-1].word.text in ("wearing", "wears", "wear", "dressed", "in") \
                and last is not None and last.resolved:
            return [last]
        return None

    def adjective(self, target: NounPhrase, item: PredicateAdjective) -> None:
        group = self.groups[target.resolved]  # type: ignore[index]
        if item.color:
            if group.color is None:
                group.color = item.color
            elif group.color != item.color:
                group.attributes["other_colors"] = " ".join(
                    filter(None, [group.attributes.get("other_colors"), item.color]))
        elif item.size:
            group.size = group.size or item.size
        elif item.word.text in lx.MATERIALS:
            group.attributes.setdefault("material", item.word.text)
        else:
            group.attributes["adjectives"] = " ".join(
                filter(None, [group.attributes.get("adjectives"), item.word.text]))

    def reciprocal(self, items: list[Item], k: int) -> bool:
        words = self.r.w
        item = items[k]
        start = item.start
        return any(tuple(words[start:start + len(p)]) == p for p in _RECIPROCALS)

    def skip_reciprocal(self, items: list[Item], k: int) -> int:
        end = items[k].start + 2
        while k < len(items) and items[k].start < end:
            k += 1
        return k

    def relate_reciprocal(self, subjects: list[NounPhrase], rel: RelationPhrase) -> None:
        placed = [s for s in subjects if s.resolved]
        if len(placed) >= 2:
            for a, b in itertools.pairwise(placed):
                self.relate([a], rel, [self.ref(b)], [b])
            return
        if len(placed) == 1:
            group = self.groups[placed[0].resolved]  # type: ignore[index]
            if isinstance(group.count, int) and group.count >= 2:
                for idx in range(group.count - 1):
                    self.statements.append(RelationStatement(
                        subject=Ref(group=group.name, index=idx), predicate=rel.name,
                        objects=[Ref(group=group.name, index=idx + 1)],
                        span=self.statement_span(placed[0], rel, [])))
                return
        self.r.warn("W219", rel.start, rel.end)

    def resolve_hints(self) -> None:
        """Absolute positions ("a cat on the left and a dog on the right") as relations."""
        by_where: dict[str, list[tuple[str, Span]]] = {}
        for key, hints in self.hints.items():
            if not isinstance(key, str):
                continue
            for where, span in hints:
                by_where.setdefault(where, []).append((key, span))
        # the thing named first is the subject: "a cup on the right and a laptop on the left"
        # reads cup right_of laptop, as it was written
        pairs = [("left", "right", "left_of"), ("top", "bottom", "above"),
                 ("foreground", "background", "in_front_of"), ("right", "left", "right_of"),
                 ("bottom", "top", "below"), ("background", "foreground", "behind")]
        used = set()
        for first, second, predicate in pairs:
            for a, span_a in by_where.get(first, []):
                for b, span_b in by_where.get(second, []):
                    if a != b and span_a.start < span_b.start:
                        span = Span(text=None, start=min(span_a.start, span_b.start),  # type: ignore[type-var]
                                    end=max(span_a.end, span_b.end))  # type: ignore[type-var]
                        span = Span(text=self.r.text[span.start:span.end], start=span.start, end=span.end)
                        self.statements.append(RelationStatement(
                            subject=Ref(group=a), predicate=predicate, objects=[Ref(group=b)], span=span))
                        used |= {(first, a), (second, b)}
        for where, entries in by_where.items():
            for name, span in entries:
                if (where, name) not in used:
                    self.r.warnings.append(SceneWarning(
                        message=warning_text("W232", words=span.text, name=name), span=span))

    def unread(self, objects: list[ObjectGroup], statements: list[RelationStatement]) -> None:
        """Warn (W202) about content words that no group, statement or other warning covers.

        The last net under the reader: whatever it skipped without saying so is said here, so
        that a scene without warnings is a prompt read in full.
        """
        r = self.r
        spans = [x.span for x in [*objects, *statements, *self.forbidden, *self.requirements,
                                  *r.warnings] if x.span is not None]
        missed = []
        for k, word in enumerate(r.words):
            if k in r.consumed or word.text in _FUNCTION_WORDS or not re.search(r"[^\W\d_]", word.text):
                continue
            if any(sp.start <= word.start and word.end <= sp.end for sp in spans):
                continue
            missed.append(k)
        if missed:
            r.warn("W202", missed[0], missed[-1] + 1,
                   words=", ".join(f"'{r.chars(k, k + 1)}'" for k in missed))

    def scene(self) -> Scene:
        r = self.r
        objects = [ObjectGroup(name=g.name, phrase=g.phrase, class_name=g.class_name, count=g.count,
                               color=g.color, size=g.size, attributes=g.attributes, span=g.span)
                   for g in self.groups.values()]
        counts = {g.name: g.count for g in self.groups.values()}
        kept = []
        for statement in self.statements:  # a last check, so that a reading never raises
            if all(ref.group in counts and (ref.index is None or ref.index < _top(counts[ref.group]))
                   for ref in [statement.subject, *statement.objects]):
                kept.append(statement)
            else:
                r.warnings.append(SceneWarning(message=warning_text("W220", words=statement.predicate),
                                               span=statement.span))
        self.unread(objects, kept)
        return Scene(objects=objects, statements=kept, forbidden=self.forbidden,
                     requirements=self.requirements,
                     prompt=r.text, warnings=r.warnings,
                     background=", ".join(r.background) or None,
                     style=", ".join(r.style) or None)


def _each_relation(phrase: RelationPhrase) -> list[RelationPhrase]:
    """The relations a phrase says: one, or two for a diagonal ("to the upper left of")."""
    return [phrase, *(dataclasses.replace(phrase, name=name, extra=()) for name in phrase.extra)]


def _top(count: int | CountRange) -> int:
    return count.max if isinstance(count, CountRange) else count


def _distinct(refs: list[Ref]) -> bool:
    """Whether no two references may be the same instance (as the scene language requires)."""
    for k, a in enumerate(refs):
        for b in refs[k + 1:]:
            if a.group == b.group and (a.index is None or b.index is None or a.index == b.index):
                return False
    return True
