"""OCR through Azure AI Document Intelligence: the real `azure-ai-documentintelligence` client against a local
stand-in of its analyze REST API (tests/support/docintel_standin.py), and through ingest for a PDF with no text layer.
A live run against a real resource is gated on TRIBUTARY_TEST_DOCUMENT_INTELLIGENCE_ENDPOINT (+ _KEY)."""

from __future__ import annotations

import dataclasses
import io
import os

import pytest

from shared.adapters.document_intelligence import DocumentIntelligenceReader
from shared.domain import JobState, PermanentError, Record, TransientError
from tests.support.docintel_standin import docintel_standin
from tests.support.pdf import build_pdf, text_pdf
from tests.support.pipeline import PipelineFactory

SCAN = build_pdf([b""] * 2)  # two pages with no text layer: what a scanner makes, as far as parsing can tell
PAGES = [
    [("pageHeader", "ACME Quarterly"), ("title", "Field report"), (None, "Ada Lovelace visited the London office.")],
    [(None, "Grace Hopper joined Compiler Systems."), ("pageFooter", "Confidential"), ("pageNumber", "2")],
]


def test_pages_come_back_as_records_without_their_headers_footers_and_numbers() -> None:
    with docintel_standin(pages=PAGES) as standin:
        reader = DocumentIntelligenceReader(standin.url, standin.key)
        records = list(reader.read(io.BytesIO(SCAN)))
        reader.close()
    assert records == [
        Record(
            text="Field report\n\nAda Lovelace visited the London office.",
            locator="page 1",
            metadata={"ocr": "prebuilt-layout"},
        ),
        Record(text="Grace Hopper joined Compiler Systems.", locator="page 2", metadata={"ocr": "prebuilt-layout"}),
    ]
    assert standin.received == [SCAN]  # the document itself was sent, once


@pytest.mark.parametrize(
    ("options", "reason_code", "error"),
    [
        ({"key": "wrong"}, "ocr.refused", PermanentError),
        ({"analysis_fails": True}, "ocr.refused", PermanentError),
        ({"statuses": [503, 503]}, "ocr.unavailable", TransientError),
        ({"statuses": [400]}, "ocr.refused", PermanentError),
        ({"pages": [[("pageHeader", "only a header")]]}, "parse.pdf.no_text", PermanentError),
    ],
)
def test_failures_are_the_projects_errors(options: dict, reason_code: str, error: type[Exception]) -> None:
    key = options.pop("key", None)
    with docintel_standin(**({"pages": PAGES} | options)) as standin:
        reader = DocumentIntelligenceReader(standin.url, key or standin.key, retry_total=1)
        with pytest.raises(error) as raised:
            list(reader.read(io.BytesIO(SCAN)))
    assert getattr(raised.value, "reason_code", None) == reason_code


def test_a_throttled_request_is_retried_by_the_sdk() -> None:
    with docintel_standin(pages=PAGES, statuses=[429]) as standin:
        records = list(DocumentIntelligenceReader(standin.url, standin.key).read(io.BytesIO(SCAN)))
    assert [record.locator for record in records] == ["page 1", "page 2"]
    assert len(standin.received) == 1  # the 429 was not an analysis


def test_a_scanned_pdf_is_read_by_ocr_when_it_is_configured_and_fails_clearly_when_not(
    make_pipeline: PipelineFactory,
) -> None:
    with docintel_standin(pages=PAGES) as standin:
        pipeline = make_pipeline(
            wrap=lambda ports: dataclasses.replace(ports, ocr=DocumentIntelligenceReader(standin.url, standin.key))
        )
        # WHEN a scan and a PDF with a text layer are dropped
        scanned = pipeline.job(pipeline.drop("scans/report.pdf", SCAN))
        typed = pipeline.job(pipeline.drop("typed.pdf", text_pdf([["Typed text on page one."]])))
    # THEN the scan was read by OCR into page chunks, and only the scan went to the service
    assert scanned.state is JobState.SUCCEEDED
    assert typed.state is JobState.SUCCEEDED
    assert standin.received == [SCAN]
    hits = pipeline.ports.vectors.search([1.0] * pipeline.ports.settings.embedding_dimension, k=10)
    texts = {hit.text for hit in hits if hit.document_id == scanned.document_id}
    assert any("Ada Lovelace visited the London office." in text and "Grace Hopper" in text for text in texts)
    assert not any("ACME Quarterly" in text or "Confidential" in text for text in texts)
    # AND without OCR the same scan fails with the reason that says so
    plain = make_pipeline()
    failed = plain.job(plain.drop("scans/report.pdf", SCAN))
    assert (failed.state, failed.reason_code) == (JobState.FAILED, "parse.pdf.no_text")


@pytest.mark.skipif(
    not os.environ.get("TRIBUTARY_TEST_DOCUMENT_INTELLIGENCE_ENDPOINT"),
    reason="the live Document Intelligence run needs TRIBUTARY_TEST_DOCUMENT_INTELLIGENCE_ENDPOINT (+ _KEY, else the"
    " Entra login)",
)
def test_live_a_pdf_page_is_read() -> None:
    reader = DocumentIntelligenceReader(
        os.environ["TRIBUTARY_TEST_DOCUMENT_INTELLIGENCE_ENDPOINT"],
        os.environ.get("TRIBUTARY_TEST_DOCUMENT_INTELLIGENCE_KEY"),
    )
    records = list(reader.read(io.BytesIO(text_pdf([["Ada Lovelace wrote the first program."]]))))
    assert records[0].locator == "page 1"
    assert "Lovelace" in records[0].text
