"""Schemas as answers with config.grounding / config.confidence follow them: beside each field, an
optional `<field>_metadata` object in VLM Run's form (`{"bboxes": [{"xywh": [...], "page": n}],
"confidence": "hi" | "med" | "low"}`)."""

from __future__ import annotations

import copy
from typing import Any

from .common import BoundingBox, FieldMetadata

SUFFIX = "_metadata"
DEF_NAME = "FieldMetadata"


def with_metadata(schema: dict[str, Any], grounding: bool, confidence: bool) -> dict[str, Any]:
    """A copy of `schema` where every object property may be accompanied by `<name>_metadata`."""
    if not (grounding or confidence):
        return schema
    out = copy.deepcopy(schema)
    defs = out.setdefault("$defs", {})
    defs[DEF_NAME] = _metadata_def(grounding, confidence)
    _add(out)
    for name, node in list(defs.items()):
        if name not in (DEF_NAME, "BoundingBox"):
            _add(node)
    return out


def _metadata_def(grounding: bool, confidence: bool) -> dict[str, Any]:
    full = FieldMetadata.model_json_schema(ref_template="#/$defs/{model}")
    props = full["properties"]
    keep: dict[str, Any] = {}
    if grounding:
        box = BoundingBox.model_json_schema()
        keep["bboxes"] = {**props["bboxes"], "items": {k: v for k, v in box.items() if k != "title"}}
        keep["bbox_content"] = props["bbox_content"]
    if confidence:
        keep["confidence"] = props["confidence"]
    return {"type": "object", "description": full.get("description", ""), "properties": keep}


def _add(node: Any) -> None:
    if not isinstance(node, dict):
        return
    props = node.get("properties")
    if isinstance(props, dict):
        for name in list(props):
            if name.endswith(SUFFIX) or f"{name}{SUFFIX}" in props:
                continue
            props[f"{name}{SUFFIX}"] = {
                "anyOf": [{"$ref": f"#/$defs/{DEF_NAME}"}, {"type": "null"}], "default": None,
                "description": f"where `{name}` was found on the page and how sure the reading is"}
    for key in ("properties", "items", "anyOf", "oneOf", "allOf", "prefixItems"):
        value = node.get(key)
        children = value.values() if isinstance(value, dict) and key == "properties" else (
            value if isinstance(value, list) else [value])
        for child in children:
            if isinstance(child, dict) and "$ref" not in child:
                _add(child)
