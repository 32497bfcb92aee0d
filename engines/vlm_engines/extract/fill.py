"""The answer object, walked along the schema: each field gets what was read for it, or null; a required field
that may not be null and was not read gets the emptiest value its type allows, reported as a placeholder.
Beside each filled field, its `<field>_metadata` (boxes, confidence, text) where the schema has one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .evidence import Found
from .geometry import PageView
from .items import ItemRows
from .labels import Plan
from .schema import Node, zero_value

MISSING = object()


@dataclass
class Answer:
    plan: Plan
    found: dict[int, Found]
    items: dict[tuple[str, ...], ItemRows]
    views: list[PageView]
    placeholders: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_path = {t.path: t for t in self.plan.targets}

    def lookup(self, path: tuple[str, ...]) -> Found | None:
        target = self.by_path.get(path)
        if target is not None and target.index in self.found:
            return self.found[target.index]
        parent = self.by_path.get(path[:-1])  # a part of an address read as a whole
        if parent is not None and parent.kind == "address" and parent.index in self.found:
            return self.found[parent.index].parts.get(path[-1])
        return None

    # --- walking ------------------------------------------------------------------------------------------

    def record(self, node: Node, path: tuple[str, ...]) -> tuple[Any, list[Found]]:
        """The object for `node` and everything found inside it."""
        out: dict[str, Any] = {}
        evidence: list[Found] = []
        for name, child in node.properties.items():
            here = (*path, name)
            value, founds = self.value(child, here)
            self._put(out, node, name, value, founds, ".".join(here))
            evidence.extend(founds)
        return out, evidence

    def _put(self, out: dict[str, Any], node: Node, name: str, value: Any, founds: list[Found], where: str) -> None:
        child = node.properties[name]
        if value is MISSING:
            if name in node.required and not child.nullable:
                out[name] = zero_value(child)
                self.placeholders.append(where)
                if name in node.metadata:
                    out[f"{name}_metadata"] = self.metadata(node.metadata[name], [], placeholder=True)
            elif child.nullable:
                out[name] = None
            return
        out[name] = value
        if name in node.metadata and founds:
            out[f"{name}_metadata"] = self.metadata(node.metadata[name], founds)

    def value(self, node: Node, path: tuple[str, ...]) -> tuple[Any, list[Found]]:
        if node.is_record:  # an object of which nothing was found is missing as a whole
            mark = len(self.placeholders)
            value, evidence = self.record(node, path)
            if not evidence:
                del self.placeholders[mark:]
                return MISSING, []
            return value, evidence
        if node.kind == "array" and node.items is not None and node.items.is_record:
            return self.array(node.items, path)
        found = self.lookup(path)
        if found is None:
            return MISSING, []
        return found.value, [found]

    def array(self, item: Node, path: tuple[str, ...]) -> tuple[Any, list[Found]]:
        rows = self.items.get(path)
        if rows is None or not rows.rows:
            return MISSING, []
        out = []
        for number, row in enumerate(rows.rows):
            obj: dict[str, Any] = {}
            for name in item.properties:
                found = row.get(name)
                where = f"{'.'.join(path)}.{number}.{name}"
                self._put(obj, item, name, found.value if found else MISSING, [found] if found else [], where)
            out.append(obj)
        return out, [Found(None, p, [], score, [(t.x0, t.y0, t.x1, t.y1)]) for p, t, score in rows.tables]

    # --- metadata -----------------------------------------------------------------------------------------

    def metadata(self, node: Node, founds: list[Found], placeholder: bool = False) -> dict[str, Any]:
        props = node.properties
        out: dict[str, Any] = {}
        if "bboxes" in props:
            out["bboxes"] = [] if placeholder else self._boxes(founds)
        if "bbox_content" in props:
            ordered = sorted(founds, key=lambda f: (f.page, min((ln.y0 for ln in f.lines), default=0)))
            text = "\n".join(dict.fromkeys(f.content for f in ordered if f.content))
            out["bbox_content"] = text or None
        if "confidence" in props:
            levels = [f.confidence for f in founds]
            out["confidence"] = "low" if placeholder or not levels else min(levels, key=_LEVELS.index)
        return out

    def _boxes(self, founds: list[Found]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, tuple[float, ...]]] = set()
        shapes = sorted((found.page, (ln.y0, ln.x0, ln.y1, ln.x1)) for found in founds for ln in found.lines)
        shapes += [(found.page, (b[1], b[0], b[3], b[2])) for found in founds for b in found.boxes]
        for page, (y0, x0, y1, x1) in shapes:
            view = self.views[page] if page < len(self.views) else None
            if view is not None:
                shape = (x0, y0, x1, y1)
                xywh = view.box(shape)
                key = (page, tuple(xywh))
                if key not in seen:
                    seen.add(key)
                    out.append({"xywh": xywh, "page": view.page.index})
        return out


_LEVELS = ["low", "med", "hi"]
