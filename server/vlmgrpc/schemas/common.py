"""Pieces shared by several domain schemas: boxes, grounding metadata and postal addresses."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

# A coordinate normalised to the page or image: 0 is the left/top edge, 1 the right/bottom edge.
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class Box(BaseModel):
    """A rectangle on a page or image, in coordinates normalised to 0..1 of its width and height."""

    xywh: list[Unit] = Field(
        min_length=4,
        max_length=4,
        description="[x, y, width, height] of the box: x and y are its top-left corner, all four values are "
        "fractions (0..1) of the page or image width (x, width) and height (y, height)",
    )


class BoundingBox(Box):
    """Where a value was found: a normalised box and the page it lies on (VLM Run's grounding convention)."""

    page: int = Field(0, ge=0, description="0-based index of the page the box lies on; 0 for a single image")


class FieldMetadata(BaseModel):
    """Grounding of one extracted value, emitted as `<field>_metadata` beside the field when grounding is on."""

    bboxes: list[BoundingBox] = Field(
        default_factory=list, description="the boxes around the text or region the value was read from"
    )
    confidence: Literal["hi", "med", "low"] | None = Field(
        None, description="how sure the model is of the value: 'hi', 'med' or 'low'"
    )
    bbox_content: str | None = Field(None, description="the text inside the boxes, as it appears on the page")


class Address(BaseModel):
    """A postal address (the same shape as the VLM Run hub's Address)."""

    street: str | None = Field(None, description="Street address: house number, street, apartment or suite")
    city: str | None = Field(None, description="City or town")
    state: str | None = Field(None, description="State, province or region, as written (e.g. 'CA' or 'Ontario')")
    postal_code: str | None = Field(None, description="Postal or ZIP code, as written")
    country: str | None = Field(None, description="Country, when written on the document")
