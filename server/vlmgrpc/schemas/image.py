"""Image domains: `image.caption`, `image.object-detection` and `image.person-detection`."""

from typing import Literal

from pydantic import BaseModel, Field

from .common import Box, Unit


class ImageCaption(BaseModel):
    """A caption, a fuller description and tags for an image."""

    caption: str = Field(description="one short sentence saying what the image shows")
    description: str = Field(description="a few sentences describing the image: its subjects, setting, actions, "
                             "colours and any visible text")
    tags: list[str] = Field(description="short lowercase keywords for the image's subjects, objects, setting and "
                            "style, most important first, without duplicates")


class Detection(BaseModel):
    """One object found in the image."""

    label: str = Field(description="what the object is, as a short lowercase noun (e.g. 'car', 'dog', 'traffic light')")
    confidence: Unit = Field(description="how sure the detector is, from 0 (a guess) to 1 (certain)")
    bbox: Box = Field(description="the tightest box around the whole object, normalised to the image")


class ObjectDetections(BaseModel):
    """The objects visible in an image, each with a label, a confidence and a box."""

    detections: list[Detection] = Field(description="every distinct object found, one entry per instance, most "
                                        "confident first; empty when there is none")


class PersonDetection(Detection):
    """One person found in the image."""

    label: Literal["person"] = Field("person", description="always 'person'")
    bbox: Box = Field(description="the tightest box around the person's whole visible body, normalised to the image")


class PersonDetections(BaseModel):
    """The people visible in an image, each with a confidence and a box."""

    detections: list[PersonDetection] = Field(description="every person found, one entry per person, most "
                                              "confident first; empty when there is none")
