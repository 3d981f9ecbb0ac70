"""Caps every parser honours; each breach is a PermanentError with a searchable reason code."""

from pydantic import BaseModel, ConfigDict, Field


class ParseLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(1 << 30, description="whole file")
    max_records: int = Field(5_000_000, description="records one file may yield")
    max_field_chars: int = Field(1 << 20, description="one CSV field or one text paragraph")
