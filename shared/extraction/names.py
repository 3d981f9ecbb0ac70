"""Cleaning a name read from a cell or a header, shared by the rule extractor and the declared-facts merge."""

import re
import unicodedata

from shared.domain.ids import canonical_name
from shared.extraction.schema import ExtractionSchema

MAX_NAME_LENGTH = 120  # a longer value is prose, not a name


def title_words(schema: ExtractionSchema) -> dict[str, str]:
    """Honorifics and role words (casefolded) -> the entity type they mark ("dr" -> Person)."""
    titles: dict[str, str] = {}
    for type_name, spec in schema.entity_types.items():
        for word in (*spec.cues.honorifics, *spec.cues.roles):
            titles[word.casefold()] = type_name
    return titles


def clean_name(value: str, entity_type: str, titles: dict[str, str]) -> str | None:
    """The name without quotes, extra spaces or leading titles of its type; None when it is no name."""
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", value)).strip().strip("\"'“”‘’")
    while True:  # "Dr. Zoë Okafor" in a person column is Zoë Okafor
        title = re.match(r"(\w+)\.?\s+", name)
        if not title or titles.get(title.group(1).casefold()) != entity_type:
            break
        name = name[title.end() :]
    if not name or len(name) > MAX_NAME_LENGTH or not canonical_name(name):
        return None
    return name
