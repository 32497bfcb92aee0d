"""Generic document domains: `document.generative` (a structured description of any document) and
`document.presentation` (slide decks)."""

import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .ocr import Figure, Table

# --- document.generative --------------------------------------------------------------------------------------

EntityType = Literal["person", "organization", "location", "date", "amount", "identifier", "product", "other"]


class Entity(BaseModel):
    """A person, organisation, place, date, amount or identifier the document is about or names."""

    name: str = Field(description="the entity as written, e.g. 'Acme Corp.', 'Jane Doe', 'INV-2024-001'")
    type: EntityType = Field(description="what kind of entity it is")
    role: str | None = Field(None, description="the part it plays in the document, e.g. 'issuer', 'recipient', "
                             "'signatory', 'total due', 'effective date'")


class KeyValue(BaseModel):
    """A labelled value printed on the document, such as a form field."""

    key: str = Field(description="the label as printed, e.g. 'Invoice No.' or 'Date of Birth'")
    value: str | None = Field(None, description="the value next to the label, as written; null when left blank")


class Section(BaseModel):
    """One section of the document, in reading order."""

    heading: str | None = Field(None, description="the section's heading as printed; null when it has none")
    summary: str = Field(description="one or two sentences saying what the section contains")
    page_index: int | None = Field(None, ge=0, description="0-based index of the page where the section starts")


class GenerativeDocument(BaseModel):
    """A general structured description of any document: what it is, what it says, and who and what it names.

    Use it for documents that no specific domain fits. Values not present in the document are null (or empty
    lists), never guessed."""

    document_type: str | None = Field(None, description="the kind of document in a few lowercase words, e.g. "
                                      "'invoice', 'letter', 'research paper', 'lease agreement', 'menu'")
    title: str | None = Field(None, description="the document's title or main heading, as printed")
    summary: str = Field(description="two to four sentences saying what the document is, who it is from and to, "
                         "and its main content or purpose")
    language: str | None = Field(None, description="the main language of the text as an ISO 639-1 code, e.g. 'en'")
    document_date: datetime.date | None = Field(None, description="the date the document was written, issued or "
                                                "signed, when one is printed")
    author: str | None = Field(None, description="the person or organisation that wrote or issued the document")
    page_count: int | None = Field(None, ge=1, description="the number of pages in the document")
    key_entities: list[Entity] | None = Field(None, description="the main people, organisations, places, dates, "
                                              "amounts and identifiers the document names, most important first")
    key_values: list[KeyValue] | None = Field(None, description="labelled values printed on the document (form "
                                              "fields, totals, reference numbers), in reading order")
    sections: list[Section] | None = Field(None, description="the document's sections, in reading order")
    topics: list[str] | None = Field(None, description="a few short lowercase keywords for the document's subject")


# --- document.presentation ------------------------------------------------------------------------------------


class Slide(BaseModel):
    """One slide of a presentation."""

    slide_index: int = Field(ge=0, description="0-based position of the slide in the deck")
    title: str | None = Field(None, description="the slide's title as printed; null when it has none")
    content: str = Field(description="the slide's body (not its title) as markdown: bullets as lists, in reading "
                         "order; `<Table id=\"tb-N\"/>` and `<Figure id=\"fg-N\"/>` mark where its tables and "
                         "figures stand; empty for a slide with no text")
    notes: str | None = Field(None, description="the speaker notes, when the document shows them")
    tables: list[Table] | None = Field(None, description="the slide's tables, in reading order")
    figures: list[Figure] | None = Field(None, description="the slide's pictures, charts and diagrams, in reading "
                                         "order")


class Presentation(BaseModel):
    """A slide deck: its title and, slide by slide, each slide's title, content, notes, tables and figures."""

    title: str | None = Field(None, description="the presentation's title, usually on the first slide")
    subtitle: str | None = Field(None, description="the presentation's subtitle, when it has one")
    author: str | None = Field(None, description="the presenter or author named on the deck")
    organization: str | None = Field(None, description="the company or institution the deck is from")
    presentation_date: datetime.date | None = Field(None, description="the date printed on the deck")
    summary: str | None = Field(None, description="two or three sentences saying what the presentation is about")
    slides: list[Slide] = Field(description="every slide, in order")
