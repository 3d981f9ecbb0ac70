"""The extraction's fingerprint (part of a document's version) changes with what changes the extraction only."""

from pathlib import Path

import yaml

from shared.config import Settings
from shared.extraction.fingerprint import extraction_fingerprint
from shared.extraction.schema import PACKAGED_SCHEMA

BASE = Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_same_settings_give_the_same_fingerprint_and_unrelated_ones_do_not_change_it() -> None:
    assert extraction_fingerprint(BASE) == extraction_fingerprint(Settings(_env_file=None))  # type: ignore[call-arg]
    assert extraction_fingerprint(BASE) == extraction_fingerprint(BASE.model_copy(update={"chunk_tokens": 128}))
    # The chat deployment does not matter while the rules extract
    assert extraction_fingerprint(BASE) == extraction_fingerprint(
        BASE.model_copy(update={"azure_openai_chat_deployment": "gpt-x"})
    )


def test_a_schema_an_extractor_or_a_model_change_changes_it(tmp_path: Path) -> None:
    data = yaml.safe_load(PACKAGED_SCHEMA.read_text(encoding="utf-8"))
    data["entity_types"]["Person"]["description"] = "Someone."
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    llm = BASE.model_copy(update={"extractor": "llm", "azure_openai_chat_deployment": "gpt-a"})

    fingerprints = {
        extraction_fingerprint(BASE),
        extraction_fingerprint(BASE.model_copy(update={"extraction_schema": tmp_path / "schema.yaml"})),
        extraction_fingerprint(BASE.model_copy(update={"extractor": "spacy"})),
        extraction_fingerprint(llm),
        extraction_fingerprint(llm.model_copy(update={"azure_openai_chat_deployment": "gpt-b"})),
        extraction_fingerprint(llm.model_copy(update={"llm_fallback_extractor": "spacy"})),
    }

    assert len(fingerprints) == 6
