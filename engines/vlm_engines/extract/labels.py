"""The fields of a schema that labels on a page can name, and the labels that name each of them: the field's
name (snake_case to words), its title, a short description, known synonyms, and for a field inside an object
the object's name before it (`patient` + `name` -> `Patient Name`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .schema import Node
from .synonyms import PARTIES, PERIODS, ROLE_WORDS, SECTIONS, SYNONYMS, Labels
from .text import fold, words_of

ADDRESS_PARTS = {"street": "street", "address": "street", "address_line": "street", "line1": "street",
                 "city": "city", "town": "city", "state": "state", "province": "state", "region": "state",
                 "postal_code": "postal_code", "zip_code": "postal_code", "zip": "postal_code",
                 "postcode": "postal_code", "country": "country"}
# A field inside an object, labelled by its own name alone (`Name:` under `PATIENT`): this much weight inside
# the object's section, this much where no section is marked.
IN_SECTION = 0.97
NO_SECTION = 0.85
SHORT_DESCRIPTION_WORDS = 3


@dataclass(frozen=True)
class Label:
    text: str  # folded
    weight: float
    target: int
    scope: str | None = None  # the top-level object whose section a label of a field's own name belongs to
    part: int | None = None  # 0 or 1: the start or end of a printed range


@dataclass
class Target:
    """A field (or a party block) that labels on the page point at."""

    index: int
    path: tuple[str, ...]
    node: Node
    kind: str  # value | list | address | party
    role: str | None = None  # for a party block: issuer | customer | shipping
    labels: list[Label] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else ""


def is_address(node: Node) -> bool:
    parts = {ADDRESS_PARTS.get(name) for name in node.properties}
    return node.is_record and len(parts & {"street", "city", "state", "postal_code"}) >= 2


@lru_cache(maxsize=8192)
def cutoff(text: str) -> int:
    """The fuzzy score a label needs: exact for short labels (`tax`, `dob`), one OCR slip for longer ones."""
    return 100 if len(text) <= 4 else 85


def _own_labels(path: tuple[str, ...], node: Node) -> list[tuple[str, float]]:
    name = path[-1]
    out: list[tuple[str, float]] = [(words_of(name), 1.0)]
    if node.title:
        out.append((node.title, 1.0))
    description = node.description.strip().rstrip(".")
    if description and len(description.split()) <= SHORT_DESCRIPTION_WORDS:
        out.append((description, 0.95))
    keys = [name] + ([f"{path[-2]}.{name}"] if len(path) > 1 else [])
    for key in keys:
        out.extend(_weighted(SYNONYMS.get(key, ())))
    return out


def _weighted(labels: Labels) -> list[tuple[str, float]]:
    return [(lb, 1.0) if isinstance(lb, str) else lb for lb in labels]


def section_labels(name: str, node: Node, headings: bool = True) -> list[tuple[str, float]]:
    """What names object `name` on the page; with `headings`, also as the heading of a section
    (`Patient Information`)."""
    base = [(words_of(name), 1.0)] + ([(node.title, 1.0)] if node.title else []) + _weighted(SECTIONS.get(name, ()))
    out = list(base)
    if not headings:
        return out
    for text, weight in base:
        out.extend((f"{text} {suffix}", weight) for suffix in ("information", "info", "details"))
    return out


def role_of(name: str) -> str | None:
    words = name.split("_")
    if "shipping" in words:
        return "shipping"
    for word in words[:-1]:
        if word in ROLE_WORDS:
            return ROLE_WORDS[word]
    return None


def _range_part(name: str, node: Node) -> int | None:
    if node.fmt not in ("date", "date-time") and "date" not in name.split("_"):
        return None
    words = set(name.split("_"))
    if words & {"start", "begin", "beginning", "from"}:
        return 0
    if words & {"end", "through", "until"}:
        return 1
    return None


class _Builder:
    def __init__(self) -> None:
        self.targets: list[Target] = []
        self.sections: dict[str, list[tuple[str, float]]] = {}

    def add(self, path: tuple[str, ...], node: Node, kind: str, role: str | None = None) -> Target:
        target = Target(len(self.targets), path, node, kind, role)
        self.targets.append(target)
        return target

    def walk(self, node: Node, path: tuple[str, ...]) -> None:
        for name, child in node.properties.items():
            here = (*path, name)
            if child.is_record:
                if not path and not is_address(child):  # an address's heading is its label
                    self.sections[name] = section_labels(name, child)
                if is_address(child):
                    self.labelled(self.add(here, child, "address"))
                self.walk(child, here)
            elif child.kind == "array":
                if child.items is not None and child.items.kind not in ("object", "array", "any"):
                    self.labelled(self.add(here, child, "list"))
            elif child.kind != "object" and child.kind != "any":
                self.labelled(self.add(here, child, "value"))

    def labelled(self, target: Target) -> None:
        own = _own_labels(target.path, target.node)
        labels = target.labels
        if len(target.path) == 1:
            labels.extend(Label(fold(text), w, target.index) for text, w in own)
        else:
            top, parent = target.path[0], target.path[-2]
            parents = section_labels(parent, Node("object"), headings=False)
            for ptext, pw in parents:
                for text, w in own:
                    if not fold(text).startswith(fold(ptext)):
                        labels.append(Label(fold(f"{ptext} {text}"), min(pw, w), target.index))
            labels.extend(Label(fold(text), w, target.index, scope=top) for text, w in own)
        part = _range_part(target.name, target.node)
        if part is not None:
            labels.extend(Label(fold(text), 0.95 * w, target.index, part=part) for text, w in _weighted(PERIODS))

    def parties(self, root: Node) -> None:
        roles = {role_of(name) for name in root.properties} - {None}
        for role in sorted(roles):
            target = self.add((f"@{role}",), Node("object"), "party", role)
            target.labels.extend(Label(fold(text), w, target.index) for text, w in _weighted(PARTIES[role]))


@dataclass
class Plan:
    targets: list[Target]
    sections: dict[str, list[tuple[str, float]]]  # top-level object -> its section headings


def plan(root: Node) -> Plan:
    builder = _Builder()
    builder.walk(root, ())
    builder.parties(root)
    for target in builder.targets:  # one label text once per target, at its best weight
        best: dict[tuple[str, str | None, int | None], Label] = {}
        for label in target.labels:
            key = (label.text, label.scope, label.part)
            if label.text and (key not in best or label.weight > best[key].weight):
                best[key] = label
        target.labels = list(best.values())
    return Plan(builder.targets, builder.sections)

