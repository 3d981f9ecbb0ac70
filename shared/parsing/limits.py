"""Caps every parser honours; each breach is a PermanentError with a searchable reason code."""

from pydantic import BaseModel, ConfigDict, Field


class ParseLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(1 << 30, description="whole file")
    max_records: int = Field(5_000_000, description="records one file may yield")
    max_field_chars: int = Field(1 << 20, description="one CSV field or one text paragraph")
    # Structured documents, containers and whole-read formats (XML, email, HTML, Markdown, zip).
    max_xml_depth: int = Field(256, description="XML element nesting")
    max_record_chars: int = Field(8 << 20, description="text one XML record element may hold")
    max_document_bytes: int = Field(64 << 20, description="formats read whole: one email, HTML or Markdown file")
    max_parts: int = Field(1000, description="MIME parts in one email, nested messages included")
    max_attachments: int = Field(50, description="attachments parsed per email (the rest are listed, not parsed)")
    max_attachment_depth: int = Field(3, description="containers in containers: attachments, nested emails, zips")
    max_archive_members: int = Field(10_000, description="members in one zip archive")
    max_decompressed_bytes: int = Field(1 << 30, description="bytes one zip archive may inflate to, all members")
    max_compression_ratio: int = Field(100, description="inflated / compressed size of one zip member")
    max_links: int = Field(100, description="hrefs kept per HTML block")
    # Delimited and JSON formats.
    max_line_chars: int = Field(8 << 20, description="one physical line (JSON Lines, CSV), or one CSV row across lines")
    max_fields: int = Field(10_000, description="fields one record keeps (CSV cells, flattened JSON leaves)")
    max_depth: int = Field(64, description="JSON nesting of arrays and objects")
    max_number_digits: int = Field(100, description="characters of one JSON number literal")
