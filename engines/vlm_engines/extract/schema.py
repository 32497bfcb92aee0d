"""A JSON schema (Draft 2020-12 as pydantic emits it) compiled into a tree of nodes the extractor walks:
`$ref`s resolved, `anyOf: [X, null]` turned into a nullable X, `<field>_metadata` properties set apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

METADATA_SUFFIX = "_metadata"
_MAX_DEPTH = 12  # a $ref cycle deeper than this is cut off (the hub's schemas are not recursive)


@dataclass
class Node:
    kind: str  # string | number | integer | boolean | object | array | any
    nullable: bool = False
    fmt: str | None = None
    enum: tuple[Any, ...] | None = None
    title: str = ""  # the property's own title, not the title of the definition it refers to
    description: str = ""
    properties: dict[str, Node] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    metadata: dict[str, Node] = field(default_factory=dict)  # property name -> its `<name>_metadata` object node
    items: Node | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None
    min_items: int = 0

    @property
    def is_record(self) -> bool:
        """An object with named properties (not a free-form dictionary)."""
        return self.kind == "object" and bool(self.properties)


def compile_schema(schema: dict[str, Any]) -> Node:
    return _compile(schema, schema, 0)


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target.get(part, {}) if isinstance(target, dict) else {}
    return target if isinstance(target, dict) else {}


def _compile(root: dict[str, Any], spec: Any, depth: int) -> Node:
    if not isinstance(spec, dict) or depth > _MAX_DEPTH:
        return Node("any", nullable=True)
    own_title, own_description = spec.get("title", ""), spec.get("description", "")
    if "$ref" in spec:
        merged = {**_resolve(root, spec["$ref"]), **{k: v for k, v in spec.items() if k != "$ref"}}
        node = _compile(root, merged, depth + 1)
        node.title = own_title if "title" in spec else ""
        return node
    for key in ("anyOf", "oneOf"):
        if isinstance(spec.get(key), list):
            options = [o for o in spec[key] if isinstance(o, dict)]
            real = [o for o in options if o.get("type") != "null"]
            node = _compile(root, real[0], depth + 1) if real else Node("any")
            node.nullable = node.nullable or len(real) < len(options)
            node.title = own_title or node.title
            node.description = own_description or node.description
            return node
    if isinstance(spec.get("allOf"), list) and len(spec["allOf"]) == 1:
        return _compile(root, {**spec["allOf"][0], **{k: v for k, v in spec.items() if k != "allOf"}}, depth + 1)
    types = spec.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    real_types = [t for t in types if t != "null"]
    enum = tuple(spec["enum"]) if isinstance(spec.get("enum"), list) else None
    if "const" in spec:
        enum = (spec["const"],)
    kind = real_types[0] if real_types else ("string" if enum and all(isinstance(e, str) for e in enum) else "any")
    if "properties" in spec and not real_types:
        kind = "object"
    node = Node(kind, nullable="null" in types or (enum is not None and None in enum), fmt=spec.get("format"),
                enum=tuple(e for e in enum if e is not None) if enum else None, title=own_title,
                description=own_description, minimum=spec.get("minimum"), maximum=spec.get("maximum"),
                min_length=spec.get("minLength", 0), max_length=spec.get("maxLength"), pattern=spec.get("pattern"),
                min_items=spec.get("minItems", 0))
    if kind == "object":
        props = spec.get("properties") or {}
        for name, sub in props.items():
            base = name.removesuffix(METADATA_SUFFIX)
            if name.endswith(METADATA_SUFFIX) and base in props:
                node.metadata[base] = _compile(root, sub, depth + 1)
            else:
                node.properties[name] = _compile(root, sub, depth + 1)
        node.required = frozenset(spec.get("required") or ())
    elif kind == "array":
        node.items = _compile(root, spec.get("items", {}), depth + 1)
    return node


_FORMAT_ZEROES = {"date": "0001-01-01", "date-time": "0001-01-01T00:00:00Z", "time": "00:00:00Z"}


def zero_value(node: Node) -> Any:
    """The emptiest value the schema admits for a required, non-nullable field the page does not give: "", [],
    0, false, an object of such values. Where the schema admits nothing empty (an enum, a bounded number), the
    first value it allows: the caller reports these as placeholders, never as read."""
    if node.enum:
        return node.enum[0]
    if node.kind == "string":
        if node.fmt in _FORMAT_ZEROES:  # no empty string is a date: the earliest one, plainly not a reading
            return _FORMAT_ZEROES[node.fmt]
        return "" if not node.min_length else " " * node.min_length
    if node.kind == "array":
        return [zero_value(node.items or Node("any"))] * node.min_items
    if node.kind in ("number", "integer"):
        low = node.minimum if node.minimum is not None and node.minimum > 0 else 0
        return int(low) if node.kind == "integer" else low
    if node.kind == "boolean":
        return False
    if node.kind == "object":
        names = [n for n in node.properties if n in node.required] + sorted(node.required - node.properties.keys())
        return {name: zero_value(node.properties.get(name, Node("any"))) for name in names}
    return None
