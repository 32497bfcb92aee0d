"""Make a JSON schema safe for constrained decoding with a random or looping model.

xgrammar 0.2.8 turns `maxLength`, `maxItems`, `maxProperties` and a `minimum`+`maximum` pair into bounded
repetitions, but leaves strings, arrays, numbers (digits, exponent) and free-form values (`{}`, a bare
`{"type": "object"}`, which may nest without end) unbounded. `bounded()` adds those bounds, so every answer is
finite; `close_reserve()` is an upper bound, in bytes (>= tokens), of what it takes to finish the document
from any point inside it by always taking the shortest way out; the engine switches to that once the token
budget left is no more than the reserve.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
# Not "not" and "if": narrowing a schema inside them would widen the whole.
SCHEMA_ONE = ("items", "additionalProperties", "then", "else", "contains", "propertyNames", "additionalItems",
              "unevaluatedItems", "unevaluatedProperties")
STRUCTURE = ("type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items", "prefixItems")
NUMBER_BYTES = 24  # "-" + 16 digits + "." + 6 decimals: what a bounded number can be
DEEP = 64  # recursion (a $ref cycle) deeper than this: give up counting, the TRUNCATED check still holds


def bounded(schema: dict, max_string: int, max_items: int, max_abs: float) -> dict:
    """A copy of `schema` in which every string, array, object, number and free-form value is bounded.
    The result only narrows the schema: whatever it admits, the original admits too."""
    scalar = {"type": ["string", "number", "boolean", "null"], "minimum": -max_abs, "maximum": max_abs}
    if max_string:
        scalar["maxLength"] = max_string
    free = {"anyOf": [scalar, {"type": "array", "items": scalar, "maxItems": max_items}]}

    def walk(s: Any) -> Any:
        if s is True:
            return free
        if isinstance(s, list):  # draft-7 tuple `items`
            return [walk(x) for x in s]
        if not isinstance(s, dict):
            return s
        if not any(k in s for k in STRUCTURE):  # {} or annotations only: any JSON value
            return {**s, **free}
        out = dict(s)
        for key in SCHEMA_MAPS:
            if isinstance(out.get(key), dict):
                out[key] = {name: walk(sub) for name, sub in out[key].items()}
        for key in SCHEMA_LISTS:
            if isinstance(out.get(key), list):
                out[key] = [walk(sub) for sub in out[key]]
        for key in SCHEMA_ONE:
            if key in out and out[key] is not False:
                out[key] = walk(out[key])
        if "enum" in out or "const" in out:
            return out
        types = out.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        if "string" in types and max_string and "pattern" not in out and "format" not in out:
            out["maxLength"] = max(min(out.get("maxLength", max_string), max_string), out.get("minLength", 0))
        if "array" in types:
            out.setdefault("items", scalar)
            out["maxItems"] = max(min(out.get("maxItems", max_items), max_items), out.get("minItems", 0))
        if "object" in types:
            if not out.get("properties") and out.get("additionalProperties", True) is not False:
                out["additionalProperties"] = walk(out.get("additionalProperties", True))
            if out.get("additionalProperties", False) is not False or out.get("patternProperties"):
                out["maxProperties"] = max(min(out.get("maxProperties", max_items), max_items),
                                           out.get("minProperties", 0))
                out.setdefault("propertyNames", {"maxLength": max_string or 256})
        if "number" in types or "integer" in types:
            cast = int if types == ["integer"] else float
            if "minimum" not in out and "exclusiveMinimum" not in out:
                out["minimum"] = cast(-max_abs)
            if "maximum" not in out and "exclusiveMaximum" not in out:
                out["maximum"] = cast(max_abs)
        return out

    return walk(schema)


def close_reserve(schema: dict) -> int:
    """Upper bound of the bytes needed to complete a document of `schema` from any point inside it."""
    root = schema

    def resolve(s: Any) -> Any:
        for _ in range(16):
            if not (isinstance(s, dict) and isinstance(s.get("$ref"), str) and s["$ref"].startswith("#")):
                break
            target: Any = root
            for part in s["$ref"].lstrip("#").strip("/").split("/"):
                if part:
                    target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(
                        target, dict) else {}
            s = target
        return s

    def types(s: dict) -> list:
        t = s.get("type")
        if t is None:
            t = "object" if "properties" in s else "array" if "items" in s or "prefixItems" in s else None
        return [t] if isinstance(t, str) else list(t or [None])

    def minimal(s: Any, depth: int) -> int:
        """Bytes of the value written when leaving at once (the shortest value, longest among choices)."""
        s = resolve(s)
        if depth > DEEP:
            return DEEP
        if not isinstance(s, dict) or not any(k in s for k in STRUCTURE):
            return 4
        if "const" in s:
            return len(json.dumps(s["const"]))
        if "enum" in s:
            return max((len(json.dumps(v)) for v in s["enum"]), default=4)
        branches = s.get("anyOf", []) + s.get("oneOf", []) + s.get("allOf", [])
        best = max((minimal(b, depth + 1) for b in branches), default=0)
        for t in types(s):
            if t == "string":
                extra = 64 if "pattern" in s or "format" in s else 0
                best = max(best, 2 + 6 * s.get("minLength", 0) + extra)
            elif t in ("number", "integer"):
                best = max(best, NUMBER_BYTES)
            elif t == "array":
                items = s.get("prefixItems") or s.get("items", True)
                item = max(minimal(i, depth + 1) for i in items) if isinstance(items, list) else minimal(
                    items, depth + 1)
                best = max(best, 2 + s.get("minItems", 0) * (item + 1))
            elif t == "object":
                props = s.get("properties", {})
                need = sum(len(json.dumps(k)) + 2 + minimal(props.get(k, True), depth + 1)
                           for k in s.get("required", []))
                best = max(best, 2 + need)
            else:  # null, boolean, or untyped
                best = max(best, 5)
        return best

    def close(s: Any, depth: int) -> int:
        """Bytes to finish a value of `s` that is already partly written: the innermost part, then the rest."""
        s = resolve(s)
        if depth > DEEP:
            return DEEP
        if not isinstance(s, dict):
            return 8
        children = [*s.get("anyOf", []), *s.get("oneOf", []), *s.get("allOf", []), *s.get("prefixItems", [])]
        children += list(s.get("properties", {}).values())
        for key in ("items", "additionalProperties"):
            if isinstance(s.get(key), dict):
                children.append(s[key])
        inner = max((close(c, depth + 1) for c in children), default=8)  # 8: an escape or number in progress
        return minimal(s, depth) + inner + 1

    return close(schema, 0) + NUMBER_BYTES
