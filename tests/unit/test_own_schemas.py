"""The platform domains' own pydantic schemas (server/vlmgrpc/schemas): valid, described, constrained-decoding
friendly JSON schemas, and realistic instances that round-trip through pydantic and jsonschema."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from vlmgrpc.schemas import OWN_SCHEMAS, PAGE_DOMAINS, SUPPORTED_INPUTS, FieldMetadata

EXPECTED = {
    "document.ocr", "document.markdown", "document.generative", "document.presentation",
    "image.caption", "image.object-detection", "image.person-detection",
    "healthcare.patient-referral", "healthcare.patient-medical-history", "healthcare.patient-consent",
    "healthcare.patient-intake", "healthcare.patient-insurance-card", "healthcare.patient-identification",
}
DOMAINS = sorted(EXPECTED)
HEALTHCARE = [d for d in DOMAINS if d.startswith("healthcare.")]


def _validator(domain: str) -> jsonschema.Draft202012Validator:
    schema = OWN_SCHEMAS[domain].model_json_schema()
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _objects(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The root and every model in $defs, with a name for messages."""
    return [("<root>", schema), *schema.get("$defs", {}).items()]


def _walk(node: Any, path: str = ""):
    """Every (path, dict) in a JSON schema, depth first."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


# --- the catalogue ------------------------------------------------------------------------------------------


def test_the_domains_are_exactly_the_platform_ones():
    assert set(OWN_SCHEMAS) == EXPECTED


def test_supported_inputs_and_page_domains():
    assert set(SUPPORTED_INPUTS) == EXPECTED
    for domain, inputs in SUPPORTED_INPUTS.items():
        assert inputs and set(inputs) <= {"image", "document"}, domain
        assert inputs == (("image",) if domain.startswith("image.") else ("image", "document")), domain
    assert PAGE_DOMAINS == ("document.ocr", "document.markdown")


# --- the JSON schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_schema_is_valid_and_described(domain):
    model = OWN_SCHEMAS[domain]
    schema = model.model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert (model.__doc__ or "").strip() and schema.get("description", "").strip()
    for name, obj in _objects(schema):
        if obj.get("type") != "object" or "properties" not in obj:
            continue  # an enum or a plain alias
        assert obj.get("description", "").strip(), f"{domain}: model {name} has no docstring"
        for prop, sub in obj["properties"].items():
            assert sub.get("description", "").strip(), f"{domain}: {name}.{prop} has no description"


@pytest.mark.parametrize("domain", DOMAINS)
def test_schema_suits_constrained_decoding(domain):
    schema = OWN_SCHEMAS[domain].model_json_schema()
    for path, node in _walk(schema):
        assert "pattern" not in node or not isinstance(node["pattern"], str), f"{domain}: regex at {path}"
        assert "patternProperties" not in node, f"{domain}: patternProperties at {path}"
    # No recursion: no model reaches itself through $refs.
    defs = schema.get("$defs", {})
    refs = {name: {n["$ref"].rsplit("/", 1)[1] for _, n in _walk(body) if isinstance(n.get("$ref"), str)}
            for name, body in defs.items()}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in refs.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    for name in defs:
        assert not reaches(name, name, {name}), f"{domain}: {name} is recursive"


@pytest.mark.parametrize("domain", HEALTHCARE)
def test_healthcare_values_are_all_optional(domain):
    """A field not found is null: nothing is required at any level, and an empty form validates."""
    model = OWN_SCHEMAS[domain]
    schema = model.model_json_schema()
    for name, obj in _objects(schema):
        assert not obj.get("required"), f"{domain}: {name} requires {obj.get('required')}"
    empty = model.model_validate({}).model_dump(mode="json")
    assert all(value is None for value in empty.values())
    _validator(domain).validate(empty)


def test_dates_are_json_schema_dates():
    schema = OWN_SCHEMAS["healthcare.patient-identification"].model_json_schema()
    dob = schema["properties"]["date_of_birth"]
    assert {"type": "string", "format": "date"} in dob["anyOf"] and {"type": "null"} in dob["anyOf"]


# --- realistic instances ------------------------------------------------------------------------------------

BOX = {"xywh": [0.1, 0.2, 0.3, 0.05]}
ADDRESS = {"street": "742 Evergreen Terrace, Apt 2", "city": "Springfield", "state": "IL", "postal_code": "62704",
           "country": "USA"}
PATIENT = {"name": "Maria L. Gonzalez", "date_of_birth": "1984-03-12", "sex": "female", "address": ADDRESS,
           "phone": "(217) 555-0134", "email": "maria.gonzalez@example.com", "mrn": "MRN-00482913"}
PCP = {"name": "Dr. Alan Chen", "credentials": "MD", "specialty": "family medicine",
       "organization": "Springfield Family Practice", "npi": "1457389201", "phone": "(217) 555-0100",
       "fax": "(217) 555-0101", "address": {"street": "12 Main St", "city": "Springfield", "state": "IL",
                                            "postal_code": "62701", "country": None}}
MEDS = [{"name": "metformin", "dose": "500 mg", "route": "oral", "frequency": "twice daily",
         "reason": "type 2 diabetes"},
        {"name": "lisinopril", "dose": "10 mg", "route": "oral", "frequency": "once daily", "reason": None}]
ALLERGIES = [{"allergen": "penicillin", "reaction": "hives", "severity": "moderate"}]
INSURANCE = {"payer": "Aetna", "plan_name": "Choice POS II", "member_id": "W123456789", "group_number": "0882341",
             "policy_holder_name": "Maria L. Gonzalez", "policy_holder_relationship": "self"}
SIGNED = {"name": "Maria L. Gonzalez", "signed": True, "date_signed": "2025-01-14", "relationship_to_patient": None}

SAMPLES: dict[str, dict[str, Any]] = {
    "document.ocr": {
        "text": "Invoice number 12345\nTotal amount due 99.50\n\nThank you",
        "pages": [
            {"page_index": 0, "width": 900, "height": 420, "text": "Invoice number 12345\nTotal amount due 99.50",
             "lines": [{"text": "Invoice number 12345", "confidence": 0.98, "bbox": {"xywh": [0.04, 0.1, 0.5, 0.08]}},
                       {"text": "Total amount due 99.50", "confidence": 0.91,
                        "bbox": {"xywh": [0.04, 0.3, 0.55, 0.08]}}]},
            {"page_index": 1, "width": 900, "height": 420, "text": "Thank you",
             "lines": [{"text": "Thank you", "confidence": 1.0, "bbox": {"xywh": [0.4, 0.45, 0.2, 0.08]}}]},
        ],
    },
    "document.markdown": {
        "pages": [{
            "page_index": 0, "width": 1240, "height": 1754,
            "content": "# Quarterly Report\n\nRevenue grew in March.\n\n<Table id=\"tb-0\"/>\n\n<Figure id=\"fg-0\"/>",
            "tables": [{
                "headers": [{"id": "month", "column": 0, "name": "Month", "dtype": "str"},
                            {"id": "revenue", "column": 1, "name": "Revenue (USD)", "dtype": "currency"}],
                "data": [{"month": "February", "revenue": 120000}, {"month": "March", "revenue": 135500.5}],
                "content": "| Month | Revenue (USD) |\n|---|---|\n| February | 120000 |\n| March | 135500.50 |",
                "metadata": {"title": "Revenue by month", "caption": None, "notes": "Unaudited."},
                "bbox": {"xywh": [0.1, 0.3, 0.8, 0.15]},
                "cells": [{"content": "Month", "index": [0, 0], "span": None, "bbox": None},
                          {"content": "Revenue (USD)", "index": [0, 1], "span": [1, 1], "bbox": BOX}],
            }],
            "figures": [{"id": 0, "title": "Revenue trend", "caption": "Figure 1: revenue, Jan-Mar",
                         "content": "A line chart rising from 110k to 135k.", "bbox": {"xywh": [0.1, 0.5, 0.8, 0.3]}}],
        }, {"page_index": 1, "width": 1240, "height": 1754, "content": "", "tables": [], "figures": []}],
    },
    "document.generative": {
        "document_type": "lease agreement", "title": "Residential Lease Agreement",
        "summary": "A twelve-month residential lease between Oak Properties LLC and Maria Gonzalez for an apartment "
                   "in Springfield, at $1,250 a month.",
        "language": "en", "document_date": "2024-12-01", "author": "Oak Properties LLC", "page_count": 6,
        "key_entities": [{"name": "Oak Properties LLC", "type": "organization", "role": "landlord"},
                         {"name": "Maria Gonzalez", "type": "person", "role": "tenant"},
                         {"name": "$1,250.00", "type": "amount", "role": "monthly rent"}],
        "key_values": [{"key": "Lease Term", "value": "12 months"}, {"key": "Security Deposit", "value": None}],
        "sections": [{"heading": "1. Term", "summary": "The lease runs from January 1 to December 31, 2025.",
                      "page_index": 0},
                     {"heading": None, "summary": "Signatures of both parties.", "page_index": 5}],
        "topics": ["real estate", "rental"],
    },
    "document.presentation": {
        "title": "Q1 Product Review", "subtitle": "What shipped and what is next", "author": "Priya Natarajan",
        "organization": "Acme Corp", "presentation_date": "2025-04-02",
        "summary": "A review of the first quarter's releases and the roadmap for the second.",
        "slides": [
            {"slide_index": 0, "title": "Q1 Product Review", "content": "Priya Natarajan, April 2025",
             "notes": None, "tables": None, "figures": None},
            {"slide_index": 1, "title": "Adoption",
             "content": "- 3 releases\n- 12% more users\n\n<Figure id=\"fg-0\"/>",
             "notes": "Stress the enterprise growth.", "tables": [],
             "figures": [{"id": 0, "title": None, "caption": "Weekly active users", "content": "A bar chart.",
                          "bbox": {"xywh": [0.5, 0.3, 0.45, 0.6]}}]},
        ],
    },
    "image.caption": {
        "caption": "A golden retriever catching a frisbee in a park.",
        "description": "A golden retriever leaps across a sunny lawn to catch a red frisbee; trees and a bench are "
                       "in the background.",
        "tags": ["dog", "golden retriever", "frisbee", "park", "outdoor"],
    },
    "image.object-detection": {
        "detections": [{"label": "dog", "confidence": 0.97, "bbox": {"xywh": [0.31, 0.4, 0.32, 0.45]}},
                       {"label": "frisbee", "confidence": 0.84, "bbox": {"xywh": [0.55, 0.22, 0.08, 0.05]}}],
    },
    "image.person-detection": {
        "detections": [{"label": "person", "confidence": 0.99, "bbox": {"xywh": [0.12, 0.08, 0.2, 0.9]}},
                       {"confidence": 0.61, "bbox": {"xywh": [0.7, 0.3, 0.1, 0.4]}}],
    },
    "healthcare.patient-referral": {
        "referral_date": "2025-01-14", "patient": PATIENT, "referring_provider": PCP,
        "receiving_provider": {"name": "Dr. Ruth Okafor", "credentials": "MD", "specialty": "endocrinology",
                               "organization": "Springfield Endocrine Center", "npi": "1932107744",
                               "phone": "(217) 555-0190", "fax": None, "address": None},
        "reason_for_referral": "Poorly controlled type 2 diabetes despite metformin.",
        "requested_service": "evaluate and treat",
        "diagnoses": [{"code": "E11.65", "description": "type 2 diabetes mellitus with hyperglycemia"},
                      {"code": "I10", "description": "essential hypertension"}],
        "urgency": "urgent", "clinical_summary": "HbA1c 9.4% on 2025-01-02.", "medications": MEDS,
        "allergies": ALLERGIES, "insurance": INSURANCE, "authorization_number": "PA-77120", "number_of_visits": 3,
        "referring_provider_signature": {"name": "Dr. Alan Chen", "signed": True, "date_signed": "2025-01-14",
                                         "relationship_to_patient": None},
    },
    "healthcare.patient-medical-history": {
        "form_date": "2025-01-10", "patient": PATIENT, "primary_care_provider": PCP,
        "past_conditions": [{"name": "type 2 diabetes", "diagnosed_year": 2019, "status": "active", "notes": None},
                            {"name": "asthma", "diagnosed_year": None, "status": "resolved", "notes": "childhood"}],
        "surgeries": [{"procedure": "appendectomy", "surgery_date": "2008-06-21", "year": 2008, "notes": None},
                      {"procedure": "knee arthroscopy", "surgery_date": None, "year": 2016, "notes": "left knee"}],
        "medications": MEDS, "allergies": ALLERGIES,
        "family_history": [{"relation": "mother", "condition": "breast cancer", "age_at_diagnosis": 52},
                           {"relation": "father", "condition": "coronary artery disease", "age_at_diagnosis": None}],
        "immunizations": [{"vaccine": "tetanus (Tdap)", "date_given": "2021-09-01"}],
        "social_history": {"tobacco_use": "former", "tobacco_details": "quit 2015", "alcohol_use": "2 drinks a week",
                           "drug_use": None, "occupation": "teacher", "exercise": "walks 30 minutes daily"},
        "height": "5' 4\"", "weight": "162 lb", "patient_signature": SIGNED,
    },
    "healthcare.patient-consent": {
        "consent_type": "surgical procedure", "patient": PATIENT, "procedure": "laparoscopic cholecystectomy",
        "procedure_description": "Removal of the gallbladder through small incisions.",
        "provider": {**PCP, "name": "Dr. Samuel Ortiz", "specialty": "general surgery"},
        "facility": "Springfield General Hospital",
        "risks": ["bleeding", "infection", "bile duct injury", "reactions to anesthesia"],
        "benefits": ["relief of biliary pain"], "alternatives": ["watchful waiting", "open surgery"],
        "consent_given": True, "consent_date": "2025-02-03", "expiration_date": None,
        "patient_signature": SIGNED,
        "witness_signature": {"name": "Karen Pike, RN", "signed": True, "date_signed": "2025-02-03",
                              "relationship_to_patient": None},
        "provider_signature": {"name": "Dr. Samuel Ortiz", "signed": False, "date_signed": None,
                               "relationship_to_patient": None},
        "interpreter_name": None,
    },
    "healthcare.patient-intake": {
        "visit_date": "2025-01-20", "patient": PATIENT, "marital_status": "married", "preferred_language": "Spanish",
        "reason_for_visit": "Cough and fever for three days", "symptoms": ["cough", "fever", "fatigue"],
        "symptom_duration": "3 days", "pain_level": 3, "medications": MEDS, "allergies": [],
        "primary_care_provider": PCP, "referred_by": None, "preferred_pharmacy": "Walgreens, 5th St",
        "emergency_contact": {"name": "Luis Gonzalez", "relationship": "spouse", "phone": "(217) 555-0177"},
        "insurance": INSURANCE, "secondary_insurance": None, "patient_signature": SIGNED,
    },
    "healthcare.patient-insurance-card": {
        "payer": "Blue Cross Blue Shield of Illinois", "plan_name": "Blue Choice PPO", "plan_type": "PPO",
        "network": "BlueCard PPO", "member_name": "MARIA L GONZALEZ", "member_id": "XOF123456789",
        "group_number": "P12345", "subscriber_name": None, "dependents": ["LUIS GONZALEZ"],
        "effective_date": "2025-01-01", "payer_id": "00621", "rx_bin": "610455", "rx_pcn": "ADV",
        "rx_group": "RX1234",
        "copays": {"primary_care": "$25", "specialist": "$50", "urgent_care": "$75", "emergency_room": "$250",
                   "generic_drugs": "$10", "brand_drugs": "$35"},
        "deductible": "$1,500 individual", "customer_service_phone": "1-800-555-0199", "provider_phone": None,
        "pharmacy_phone": "1-800-555-0123",
        "claims_address": {"street": "PO Box 805107", "city": "Chicago", "state": "IL", "postal_code": "60680",
                           "country": None},
    },
    "healthcare.patient-identification": {
        "document_type": "drivers_license", "document_number": "G123-4567-8901", "issuing_state": "IL",
        "issuing_country": "USA", "full_name": "MARIA LUISA GONZALEZ", "first_name": "MARIA", "last_name": "GONZALEZ",
        "date_of_birth": "1984-03-12", "sex": "female", "address": ADDRESS, "issue_date": "2021-03-12",
        "expiration_date": "2029-03-12", "photo_present": True, "signature_present": True,
    },
}


def test_every_domain_has_a_sample():
    assert set(SAMPLES) == EXPECTED


@pytest.mark.parametrize("domain", DOMAINS)
def test_sample_validates_with_pydantic_and_jsonschema(domain):
    model = OWN_SCHEMAS[domain]
    sample = SAMPLES[domain]
    instance = model.model_validate(sample)
    dumped = instance.model_dump(mode="json")
    _validator(domain).validate(dumped)
    _validator(domain).validate(sample)  # what a model would emit, before pydantic fills defaults
    assert model.model_validate(dumped) == instance


def test_person_detection_label_is_always_person():
    dumped = OWN_SCHEMAS["image.person-detection"].model_validate(SAMPLES["image.person-detection"]).model_dump()
    assert [d["label"] for d in dumped["detections"]] == ["person", "person"]


def test_markdown_pages_default_to_no_tables_or_figures():
    page = {"page_index": 0, "width": 10, "height": 10, "content": "# Title"}
    dumped = OWN_SCHEMAS["document.markdown"].model_validate({"pages": [page]}).model_dump(mode="json")
    assert dumped["pages"][0]["tables"] == [] and dumped["pages"][0]["figures"] == []


def test_field_metadata_follows_the_grounding_convention():
    meta = FieldMetadata.model_validate({"bboxes": [{"xywh": [0.1, 0.1, 0.2, 0.05], "page": 2}], "confidence": "hi"})
    assert meta.model_dump(mode="json") == {"bboxes": [{"xywh": [0.1, 0.1, 0.2, 0.05], "page": 2}],
                                            "confidence": "hi", "bbox_content": None}
    assert FieldMetadata.model_validate({"bboxes": [{"xywh": [0, 0, 1, 1]}]}).bboxes[0].page == 0
    for bad in ({"confidence": "high"}, {"bboxes": [{"xywh": [0.1, 0.1, 0.2]}]},
                {"bboxes": [{"xywh": [0, 0, 1, 1], "page": -1}]}):
        with pytest.raises(ValidationError):
            FieldMetadata.model_validate(bad)


# --- wrong instances ----------------------------------------------------------------------------------------


def _set(obj: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def _drop(obj: Any, path: tuple) -> None:
    for key in path[:-1]:
        obj = obj[key]
    del obj[path[-1]]


BAD: list[tuple[str, tuple, Any]] = [
    ("document.ocr", ("pages", 0, "width"), "wide"),                          # a string where an int is required
    ("document.ocr", ("pages", 0, "page_index"), -1),
    ("document.ocr", ("pages", 0, "lines", 0, "confidence"), 2.0),            # confidence above 1
    ("document.ocr", ("pages", 0, "lines", 0, "bbox", "xywh"), [0.1, 0.2, 0.3]),  # three numbers
    ("document.ocr", ("pages", 0, "lines", 1, "bbox", "xywh"), [0.1, 0.2, 0.3, 0.4, 0.5]),
    ("document.ocr", ("pages", 0, "lines", 0, "bbox", "xywh"), [0.1, 0.2, 1.5, 0.1]),  # not normalised
    ("document.ocr", ("pages", 1, "lines"), None),
    ("document.markdown", ("pages", 0, "height"), "tall"),
    ("document.markdown", ("pages", 0, "tables", 0, "headers", 0, "column"), "first"),
    ("document.markdown", ("pages", 0, "tables", 0, "headers", 1, "dtype"), "money"),
    ("document.markdown", ("pages", 0, "tables", 0, "cells", 0, "index"), [0, 0, 0]),
    ("document.markdown", ("pages", 0, "figures", 0, "bbox", "xywh"), [0.1, 0.5, 0.8]),
    ("document.markdown", ("pages", 0, "content"), 42),
    ("document.generative", ("key_entities", 0, "type"), "company"),
    ("document.generative", ("document_date",), "first of December"),
    ("document.generative", ("page_count",), "six"),
    ("document.presentation", ("slides", 0, "slide_index"), "first"),
    ("document.presentation", ("slides", 1, "figures", 0, "id"), "fg-0"),
    ("image.caption", ("tags",), "dog, park"),
    ("image.object-detection", ("detections", 0, "confidence"), 2.0),
    ("image.object-detection", ("detections", 1, "bbox", "xywh"), [0.5, 0.2, 0.1]),
    ("image.person-detection", ("detections", 0, "label"), "dog"),
    ("image.person-detection", ("detections", 1, "confidence"), -0.1),
    ("healthcare.patient-referral", ("urgency",), "whenever"),
    ("healthcare.patient-referral", ("number_of_visits",), "three"),
    ("healthcare.patient-referral", ("patient", "date_of_birth"), "03/12/1984"),
    ("healthcare.patient-medical-history", ("family_history", 0, "age_at_diagnosis"), "fifty-two"),
    ("healthcare.patient-medical-history", ("social_history", "tobacco_use"), "sometimes"),
    ("healthcare.patient-consent", ("consent_date",), "2025-02-30"),
    ("healthcare.patient-consent", ("risks",), "bleeding"),
    ("healthcare.patient-intake", ("pain_level",), 11),
    ("healthcare.patient-intake", ("patient", "sex"), "F"),
    ("healthcare.patient-insurance-card", ("copays",), "$25"),
    ("healthcare.patient-insurance-card", ("effective_date",), "soon"),
    ("healthcare.patient-identification", ("document_type",), "library card"),
    ("healthcare.patient-identification", ("photo_present",), "a photo"),
]
MISSING: list[tuple[str, tuple]] = [
    ("document.ocr", ("text",)),
    ("document.ocr", ("pages", 0, "lines", 0, "bbox")),
    ("document.markdown", ("pages", 0, "width")),
    ("document.markdown", ("pages", 0, "tables", 0, "headers")),
    ("document.generative", ("summary",)),
    ("document.presentation", ("slides",)),
    ("image.caption", ("caption",)),
    ("image.object-detection", ("detections", 0, "label")),
    ("image.person-detection", ("detections", 0, "bbox")),
]


@pytest.mark.parametrize(("domain", "path", "value"), BAD, ids=[f"{d}:{'.'.join(map(str, p))}" for d, p, _ in BAD])
def test_wrong_value_fails_both_validators(domain, path, value):
    bad = copy.deepcopy(SAMPLES[domain])
    _set(bad, path, value)
    with pytest.raises(ValidationError):
        OWN_SCHEMAS[domain].model_validate(bad)
    assert not _validator(domain).is_valid(bad)


@pytest.mark.parametrize(("domain", "path"), MISSING, ids=[f"{d}:{'.'.join(map(str, p))}" for d, p in MISSING])
def test_missing_required_value_fails_both_validators(domain, path):
    bad = copy.deepcopy(SAMPLES[domain])
    _drop(bad, path)
    with pytest.raises(ValidationError):
        OWN_SCHEMAS[domain].model_validate(bad)
    assert not _validator(domain).is_valid(bad)


# --- constrained decoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_xgrammar_compiles_the_schema_and_accepts_the_sample(domain):
    xgr = pytest.importorskip("xgrammar")
    from xgrammar.testing import _is_grammar_accept_string

    grammar = xgr.Grammar.from_json_schema(json.dumps(OWN_SCHEMAS[domain].model_json_schema()), strict_mode=True)
    dumped = OWN_SCHEMAS[domain].model_validate(SAMPLES[domain]).model_dump(mode="json")
    assert _is_grammar_accept_string(grammar, json.dumps(dumped))


@pytest.mark.parametrize(("domain", "path", "value"), [
    ("image.object-detection", ("detections", 0, "confidence"), 2.0),
    ("image.object-detection", ("detections", 0, "bbox", "xywh"), [0.5, 0.2, 0.1]),
    ("document.ocr", ("pages", 0, "width"), "wide"),
    ("healthcare.patient-intake", ("patient", "sex"), "F"),
])
def test_xgrammar_rejects_wrong_values(domain, path, value):
    xgr = pytest.importorskip("xgrammar")
    from xgrammar.testing import _is_grammar_accept_string

    grammar = xgr.Grammar.from_json_schema(json.dumps(OWN_SCHEMAS[domain].model_json_schema()), strict_mode=True)
    bad = OWN_SCHEMAS[domain].model_validate(SAMPLES[domain]).model_dump(mode="json")
    _set(bad, path, value)
    assert not _is_grammar_accept_string(grammar, json.dumps(bad))
