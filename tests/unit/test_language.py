"""Language per chunk: a code where the text says enough, None where it does not; and enrich stores it."""

import pytest

from shared.domain import BatchPayload, Chunk
from shared.pipeline import enrich
from shared.pipeline.language import detect


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The committee approved the budget for the new library after a long debate.", "en"),
        ("Der Ausschuss hat den Haushalt für die neue Bibliothek nach langer Debatte genehmigt.", "de"),
        ("Le comité a approuvé le budget de la nouvelle bibliothèque après un long débat.", "fr"),
        ("El comité aprobó el presupuesto de la nueva biblioteca tras un largo debate.", "es"),
        ("Комитет утвердил бюджет новой библиотеки после долгих дебатов.", "ru"),
        ("委員会は長い議論の末、新しい図書館の予算を承認した。", "ja"),
        ("Le comité a approuvé le budget. " * 10 + "The rest of this long chunk is English. " * 100, "fr"),
    ],
)
def test_a_sentence_gets_its_language(text: str, language: str) -> None:
    assert detect(text) == language


@pytest.mark.parametrize("text", ["", "   ", "12345 67.89", "INV-2024", "ok"])
def test_too_little_text_is_unknown_not_a_guess(text: str) -> None:
    assert detect(text) is None


def test_enrich_stores_each_chunks_language(tmp_path) -> None:
    # GIVEN a batch of an English and a French chunk, and the embedded default's ports
    from shared.adapters.hashing_embedder import HashingEmbedder
    from shared.config import Settings
    from shared.ports import Ports

    chunks = [
        Chunk(chunk_id=f"c{n}", document_id="d", version="v", ordinal=n, text=text, locator=f"line {n}")
        for n, text in enumerate(
            [
                "The committee approved the budget for the new library.",
                "Le comité a approuvé le budget de la nouvelle bibliothèque.",
                "42",
            ]
        )
    ]
    ports = Ports(None, None, None, None, None, HashingEmbedder(16), None, Settings(data_dir=tmp_path))  # type: ignore[arg-type]
    # WHEN enriched THEN each chunk carries its language (None for one that says too little)
    output = enrich.handle(BatchPayload(chunks=chunks), None, ports)  # type: ignore[arg-type]
    assert [chunk.language for chunk in output.payload.chunks] == ["en", "fr", None]
