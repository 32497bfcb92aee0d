"""Typed results: JSON schemas (as pydantic emits them, as HubService.GetSchema returns them) become pydantic
models that parse responses; `response_model=` validates into the caller's own class."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from vlmgrpc_client import errors, typed
from vlmgrpc_client.types import GenerationConfig


class Address(BaseModel):
    street: str | None = None
    city: str


class Item(BaseModel):
    description: str
    quantity: int = 1
    unit_price: float | None = None


class Invoice(BaseModel):
    invoice_id: str = Field(..., description="the invoice number")
    issue_date: dt.date | None = None
    currency: Literal["USD", "EUR"] = "USD"
    items: list[Item] = []
    billing: Address | None = None
    tags: dict[str, str] = {}
    paid: bool = False


SAMPLE = {"invoice_id": "INV-1", "issue_date": "2024-02-29", "currency": "EUR",
          "items": [{"description": "bolts", "quantity": 3, "unit_price": 0.5}],
          "billing": {"city": "Berlin"}, "tags": {"k": "v"},
          "invoice_id_metadata": {"confidence": "hi"}}  # grounding/confidence fields are kept


def test_a_model_built_from_the_schema_parses_the_response():
    model = typed.model_for_schema("document.invoice", Invoice.model_json_schema())
    obj = model.model_validate(SAMPLE)
    assert type(obj).__name__ == "Invoice"
    assert obj.invoice_id == "INV-1" and obj.issue_date == dt.date(2024, 2, 29) and obj.currency == "EUR"
    assert obj.items[0].quantity == 3 and obj.items[0].unit_price == 0.5
    assert obj.billing.city == "Berlin" and obj.billing.street is None and obj.paid is False
    assert obj.invoice_id_metadata == {"confidence": "hi"}
    assert model.model_fields["invoice_id"].description == "the invoice number"
    assert obj.model_dump(by_alias=True, exclude_none=True)["items"][0]["description"] == "bolts"


def test_the_schema_is_enforced():
    model = typed.model_for_schema("document.invoice", Invoice.model_json_schema())
    with pytest.raises(errors.ResponseValidationError) as info:
        typed.validate(model, {"currency": "GBP"})
    assert info.value.reason == "RESPONSE_VALIDATION_FAILED"
    assert "invoice_id" in str(info.value) and "currency" in str(info.value)
    # autocast, like the SDK's, keeps the JSON when it does not fit
    assert typed.autocast(model, {"currency": "GBP"}) == {"currency": "GBP"}


def test_awkward_property_names_become_aliases():
    schema = {"type": "object", "properties": {"class": {"type": "string"}, "_id": {"type": "integer"},
                                               "model_name": {"type": "string"}, "2nd": {"type": "number"},
                                               "json": {"type": "boolean"}}, "required": ["class"]}
    model = typed.model_for_schema("odd", schema)
    obj = model.model_validate({"class": "a", "_id": 1, "model_name": "m", "2nd": 2.5, "json": True})
    assert obj.model_dump(by_alias=True) == {"class": "a", "_id": 1, "model_name": "m", "2nd": 2.5, "json": True}


def test_non_object_roots_and_recursion():
    listing = typed.model_for_schema("ids", {"type": "array", "items": {"type": "string"}})
    assert listing.model_validate({"value": ["a"]}).value == ["a"]
    tree = {"$defs": {"Node": {"type": "object", "properties": {
        "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
        "$ref": "#/$defs/Node"}
    node = typed.model_for_schema("tree", tree).model_validate({"name": "a", "children": [{"name": "b"}]})
    assert node.name == "a" and node.children[0]["name"] == "b"  # a cycle stops at plain JSON


def test_models_are_cached_by_schema_hash():
    schema = Invoice.model_json_schema()
    assert typed.model_for_schema("d", schema, "abcd1234") is typed.model_for_schema("d", schema, "abcd1234")


def test_a_config_response_model_is_sent_as_json_schema():
    wire = GenerationConfig(response_model=Invoice, grounding=True).wire()
    assert wire["json_schema"] == Invoice.model_json_schema() and wire["grounding"] is True
    assert "response_model" not in wire
