"""Pydantic schemas for the VLM Run domains that `vlmrun-hub` does not have.

Each domain maps to one model: its docstring is the domain's description and its fields' descriptions are the
model's instructions. Extraction domains (document.generative/presentation, healthcare.*) make every value
optional: what the document does not show is null, never guessed. The JSON schemas stay simple enough for
JSON-schema-constrained decoding: no regex patterns, no recursive models."""

from pydantic import BaseModel

from .common import Address, BoundingBox, Box, FieldMetadata
from .document import GenerativeDocument, Presentation, Slide
from .healthcare import (
    PatientConsent,
    PatientIdentification,
    PatientInsuranceCard,
    PatientIntake,
    PatientMedicalHistory,
    PatientReferral,
)
from .image import Detection, ImageCaption, ObjectDetections, PersonDetection, PersonDetections
from .ocr import Figure, MarkdownDocument, MarkdownPage, OcrDocument, OcrLine, OcrPage, Table

OWN_SCHEMAS: dict[str, type[BaseModel]] = {
    "document.ocr": OcrDocument,
    "document.markdown": MarkdownDocument,
    "document.generative": GenerativeDocument,
    "document.presentation": Presentation,
    "image.caption": ImageCaption,
    "image.object-detection": ObjectDetections,
    "image.person-detection": PersonDetections,
    "healthcare.patient-referral": PatientReferral,
    "healthcare.patient-medical-history": PatientMedicalHistory,
    "healthcare.patient-consent": PatientConsent,
    "healthcare.patient-intake": PatientIntake,
    "healthcare.patient-insurance-card": PatientInsuranceCard,
    "healthcare.patient-identification": PatientIdentification,
}

_IMAGE = ("image",)
_ANY = ("image", "document")
SUPPORTED_INPUTS: dict[str, tuple[str, ...]] = {
    domain: _IMAGE if domain.startswith("image.") else _ANY for domain in OWN_SCHEMAS
}

# Domains answered page by page: the response is {"pages": [...]} with one entry per page or image.
PAGE_DOMAINS = ("document.ocr", "document.markdown")

__all__ = [
    "OWN_SCHEMAS", "SUPPORTED_INPUTS", "PAGE_DOMAINS",
    "Address", "BoundingBox", "Box", "FieldMetadata",
    "OcrDocument", "OcrPage", "OcrLine", "MarkdownDocument", "MarkdownPage", "Table", "Figure",
    "ImageCaption", "Detection", "ObjectDetections", "PersonDetection", "PersonDetections",
    "GenerativeDocument", "Presentation", "Slide",
    "PatientReferral", "PatientMedicalHistory", "PatientConsent", "PatientIntake", "PatientInsuranceCard",
    "PatientIdentification",
]
