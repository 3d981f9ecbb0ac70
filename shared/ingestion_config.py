"""The ingestion config: blob path globs -> parser options (README "Ingestion config").

Rules are tried in order against `container/path`; the first whose glob matches wins. Globs use `fnmatch`
semantics, case-sensitive: `*` matches any run of characters *including* `/`, `?` one character, `[abc]` a set.
A file no rule matches gets the default `ParseOptions()`. Nothing is ever guessed from a file name beyond this.
"""

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.domain import PermanentError, Reason
from shared.extraction.schema import ExtractionSchema, load_schema
from shared.parsing import FORMATS
from shared.parsing.columns import validate_options
from shared.parsing.options import ParseOptions

PACKAGED_CONFIG = Path(__file__).with_name("ingestion.yaml")


class IngestionRule(BaseModel):
    """Files whose `container/path` matches one of the globs are parsed with these options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    match: list[str] = Field(min_length=1, description="fnmatch globs against 'container/path'; '*' crosses '/'")
    options: ParseOptions = ParseOptions()

    @field_validator("match")
    @classmethod
    def _no_blank_globs(cls, globs: list[str]) -> list[str]:
        if any(not glob.strip() for glob in globs):
            raise ValueError("a glob must not be blank")
        return globs

    @field_validator("options")
    @classmethod
    def _known_format(cls, options: ParseOptions) -> ParseOptions:
        if options.format is not None and options.format not in FORMATS:
            raise ValueError(f"unknown format {options.format!r}; known: {sorted(FORMATS)}")
        return options

    def matches(self, location: str) -> bool:
        return any(fnmatchcase(location, glob) for glob in self.match)


class IngestionConfig(BaseModel):
    """Ordered rules; the first match wins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    rules: list[IngestionRule] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[IngestionRule]) -> list[IngestionRule]:
        names = [rule.name for rule in rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {duplicates}")
        return rules

    def options_for(self, container: str, blob_path: str) -> tuple[str | None, ParseOptions]:
        """The first matching rule's name and options, or (None, defaults)."""
        location = f"{container}/{blob_path}"
        for rule in self.rules:
            if rule.matches(location):
                return rule.name, rule.options
        return None, ParseOptions()

    def check_against(self, schema: ExtractionSchema) -> list[str]:
        """Entity types and relation triples the schema does not allow, per rule."""
        return [
            f"rule {rule.name}: {problem}" for rule in self.rules for problem in validate_options(rule.options, schema)
        ]


def parse_ingestion_config(data: Mapping[str, Any], schema: ExtractionSchema) -> IngestionConfig:
    """Validate an already-parsed config against the models and the extraction schema."""
    try:
        config = IngestionConfig.model_validate(data)
    except ValidationError as error:
        raise PermanentError(Reason.CONFIG_INGESTION_INVALID, _describe(error)) from error
    problems = config.check_against(schema)
    if problems:
        raise PermanentError(Reason.CONFIG_INGESTION_INVALID, "; ".join(problems))
    return config


def load_ingestion_config(path: Path | None = None, schema_path: Path | None = None) -> IngestionConfig:
    """Load and validate the YAML config; None loads the packaged one. Checked against the extraction schema."""
    source = Path(path) if path is not None else PACKAGED_CONFIG
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PermanentError(Reason.CONFIG_INGESTION_INVALID, f"{source}: {error}") from error
    if data is None:
        data = {}  # an empty file: no rules, defaults everywhere
    if not isinstance(data, Mapping):
        raise PermanentError(Reason.CONFIG_INGESTION_INVALID, f"{source}: the document must be a mapping")
    try:
        return parse_ingestion_config(data, load_schema(schema_path))
    except PermanentError as error:
        if error.reason_code != Reason.CONFIG_INGESTION_INVALID:
            raise
        raise PermanentError(Reason.CONFIG_INGESTION_INVALID, f"{source}: {error.detail}") from error


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '<config>'}: {item['msg']}" for item in error.errors()
    )
