"""Typed results. Like the VLM Run SDK's `autocast`, a domain's JSON schema (HubService.GetSchema) becomes a
pydantic model and the prediction's response is validated into it; the SDK generates that model with
datamodel-code-generator, this converter is a small one that covers what pydantic itself emits (objects,
$defs/$ref, anyOf, enums, arrays, formats). Or the caller passes its own model class (`response_model=`).

Generated models keep fields they do not declare (`extra="allow"`): a response with grounding or confidence
carries `<field>_metadata` beside each field."""

from __future__ import annotations

import datetime as dt
import functools
import keyword
import logging
import operator
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from vlmgrpc_client.errors import ResponseValidationError

_PRIMITIVES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
_FORMATS: dict[str, Any] = {"date": dt.date, "date-time": dt.datetime, "time": dt.time}
log = logging.getLogger(__name__)
_cache: dict[tuple[str, str], type[BaseModel]] = {}


class _Generated(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def model_for_schema(name: str, schema: dict[str, Any], schema_hash: str = "") -> type[BaseModel]:
    """The pydantic model of a JSON schema, built once per (name, hash) when a hash is given."""
    key = (name, schema_hash)
    if schema_hash and key in _cache:
        return _cache[key]
    model = SchemaConverter(schema).root(_class_name(name))
    if schema_hash:
        _cache[key] = model
    return model


def validate(model: type[BaseModel], response: Any) -> BaseModel:
    try:
        return model.model_validate(response)
    except ValidationError as exc:
        raise ResponseValidationError(f"the response does not validate into {model.__name__}: {exc}",
                                      reason="RESPONSE_VALIDATION_FAILED") from exc


def autocast(model: type[BaseModel], response: Any) -> Any:
    """As the SDK's autocast: the typed object, or (logged) the plain JSON when it does not validate."""
    try:
        return model.model_validate(response)
    except ValidationError as exc:
        log.warning("could not cast the response to %s, keeping it as JSON: %s", model.__name__, exc)
        return response


def _class_name(text: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words if w) or "Model"
    return name if name[0].isalpha() else "M" + name


def _field_name(prop: str, taken: set[str]) -> str:
    """A Python identifier for a property; the property's own name stays its alias."""
    name = re.sub(r"\W", "_", prop)
    if not name or name[0].isdigit() or name.startswith("_") or keyword.iskeyword(name) or \
            name.startswith("model_") or name in dir(BaseModel):
        name = "f_" + name.lstrip("_")
    while name in taken:
        name += "_"
    taken.add(name)
    return name


class SchemaConverter:
    """One JSON schema and its $defs; every $def becomes one model class, whatever refers to it."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}
        self.models: dict[str, Any] = {}

    def root(self, name: str) -> type[BaseModel]:
        annotation = self.annotation(self.schema, name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        # Not an object at the top (an array, a string): a model with that one field, `root`.
        return create_model(name, __base__=_Generated, value=(annotation, ...))

    def annotation(self, schema: Any, hint: str) -> Any:
        if schema is True or not isinstance(schema, dict) or not schema:
            return Any
        if "$ref" in schema:
            return self.ref(schema["$ref"])
        if "const" in schema:
            return Literal[schema["const"]]
        if "enum" in schema:
            values = tuple(schema["enum"])
            return Literal[values] if values else Any
        for combinator in ("anyOf", "oneOf"):
            if combinator in schema:
                return self.union([self.annotation(s, hint) for s in schema[combinator]])
        if "allOf" in schema:
            parts = schema["allOf"]
            return self.annotation(parts[0], hint) if len(parts) == 1 else Any
        kind = schema.get("type")
        if isinstance(kind, list):
            return self.union([self.annotation({**schema, "type": k}, hint) for k in kind])
        if kind == "object" or "properties" in schema:
            return self.object(schema, hint)
        if kind == "array":
            items = schema.get("items")
            return list[self.annotation(items, hint + "Item")] if items else list[Any]
        if kind == "string" and schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        return _PRIMITIVES.get(kind, Any)

    def union(self, members: list[Any]) -> Any:
        unique = list(dict.fromkeys(members))
        if Any in unique:
            return Any
        optional = type(None) in unique
        rest = [m for m in unique if m is not type(None)]
        if not rest:
            return type(None)
        core = functools.reduce(operator.or_, rest)
        return core | None if optional else core

    def ref(self, ref: str) -> Any:
        name = ref.rsplit("/", 1)[-1]
        if name not in self.defs:
            return Any
        if name not in self.models:
            self.models[name] = None  # a cycle resolves to a forward reference below
            self.models[name] = self.annotation(self.defs[name], name)
        model = self.models[name]
        return model if model is not None else Any

    def object(self, schema: dict[str, Any], hint: str) -> Any:
        properties = schema.get("properties")
        if not properties:
            extra = schema.get("additionalProperties")
            return dict[str, self.annotation(extra, hint + "Value")] if isinstance(extra, dict) else dict[str, Any]
        required = set(schema.get("required", ()))
        fields: dict[str, Any] = {}
        taken: set[str] = set()
        for prop, sub in properties.items():
            annotation = self.annotation(sub, _class_name(prop))
            kwargs: dict[str, Any] = {"alias": prop}
            if isinstance(sub, dict) and sub.get("description"):
                kwargs["description"] = sub["description"]
            if prop in required:
                default = ...
            else:
                default = sub.get("default") if isinstance(sub, dict) else None
                if default is None:
                    annotation = annotation | None  # absent means None
            fields[_field_name(prop, taken)] = (annotation, Field(default, **kwargs))
        model = create_model(_class_name(schema.get("title") or hint), __base__=_Generated, **fields)
        if schema.get("description"):
            model.__doc__ = schema["description"]
        return model
