"""Per-file parser options, chosen by the ingestion config's path rules (never guessed from file names)."""

from pydantic import BaseModel, ConfigDict, Field


class ColumnRelation(BaseModel):
    """A relation between two typed columns of the same row, e.g. employee -[REPORTS_TO]-> manager."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="column holding the source entity")
    type: str = Field(description="relation type from the extraction schema")
    target: str = Field(description="column holding the target entity")


class ParseOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str | None = Field(None, description="force a parser (csv, tsv, json, jsonl, xml, eml, mbox, …)")
    encoding: str | None = Field(None, description="force a text encoding instead of detecting it")
    delimiter: str | None = Field(None, description="CSV delimiter; detected when absent")
    has_header: bool = Field(True, description="the first CSV row names the columns")
    sheet: str | None = Field(None, description="Excel: the one sheet to read, by name (every worksheet if absent)")
    record_element: str | None = Field(None, description="XML element (local name) that is one record")
    record_path: str | None = Field(None, description="JSON path (ijson prefix) of the records, e.g. 'items.item'")
    id_column: str | None = Field(None, description="field whose value identifies the record")
    text_columns: list[str] | None = Field(None, description="fields that make the record's text (all if absent)")
    entity_columns: dict[str, str] = Field(
        default_factory=dict, description="field -> entity type, e.g. manager: Person"
    )
    relations: list[ColumnRelation] = Field(default_factory=list)
