"""OCR through Azure AI Document Intelligence (`azure-ai-documentintelligence`, model prebuilt-layout): the text of a
PDF that has no text layer (a scan), read as the PDF parser reads a PDF that has one.

The service's layout model returns paragraphs with their page and role; this reader yields one record per page
(`page 3`), its paragraphs in reading order separated by blank lines, leaving out the roles the PDF parser also drops
(page headers, footers and numbers). Section headings stay in the text. The document is sent whole (the service
takes up to 500 MB on S0; the file cap applies before) and the poller waits for the result; the SDK retries 429 and
5xx answers itself. Authentication: a key (`TRIBUTARY_DOCUMENT_INTELLIGENCE_KEY`, a Key Vault reference on Azure),
else a token credential (managed identity on Azure: the "Cognitive Services User" role).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from azure.ai.documentintelligence import DocumentIntelligenceClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from shared.connections import close_credential, token_credential
from shared.domain import ParseIssue, PermanentError, Reason, Record, TransientError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

MODEL = "prebuilt-layout"
_DROPPED_ROLES = frozenset({"pageHeader", "pageFooter", "pageNumber"})
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class DocumentIntelligenceReader:
    """`DocumentReader` on one Document Intelligence resource."""

    name = f"document-intelligence/{MODEL}"

    def __init__(self, endpoint: str, key: str | None = None, *, timeout: float = 300.0, **client_options: Any) -> None:
        """`client_options`: azure-core's client keywords (e.g. `retry_total`)."""
        credential: AzureKeyCredential | TokenCredential = AzureKeyCredential(key) if key else token_credential({})
        self._credential = credential
        self._client = DocumentIntelligenceClient(endpoint, credential, **client_options)
        self._timeout = timeout

    def read(self, stream: BinaryIO) -> Iterator[Record | ParseIssue]:
        """Records of the document's pages, by OCR; a page with no text is left out."""
        result = self._analyze(stream)
        by_page: dict[int, list[str]] = defaultdict(list)
        for paragraph in result.get("paragraphs") or []:
            regions = paragraph.get("boundingRegions") or []
            if paragraph.get("role") in _DROPPED_ROLES or not regions or not paragraph.get("content"):
                continue
            by_page[int(regions[0]["pageNumber"])].append(paragraph["content"])
        if not by_page:
            pages = len(result.get("pages") or [])
            raise PermanentError(Reason.PARSE_PDF_NO_TEXT, f"{pages} page(s): OCR found no text either")
        for page in sorted(by_page):
            yield Record(text="\n\n".join(by_page[page]), locator=f"page {page}", metadata={"ocr": MODEL})

    def _analyze(self, stream: BinaryIO) -> dict[str, Any]:
        try:
            poller = self._client.begin_analyze_document(MODEL, body=stream, content_type="application/octet-stream")
            result = poller.result(timeout=self._timeout)
        except ClientAuthenticationError as error:
            raise PermanentError(Reason.OCR_REFUSED, f"authentication: {error.message}") from error
        except HttpResponseError as error:
            if error.status_code in _TRANSIENT_STATUS or error.status_code is None:
                raise TransientError(Reason.OCR_UNAVAILABLE, f"HTTP {error.status_code}: {error.message}") from error
            raise PermanentError(Reason.OCR_REFUSED, f"HTTP {error.status_code}: {error.message}") from error
        except (ServiceRequestError, TimeoutError) as error:
            raise TransientError(Reason.OCR_UNAVAILABLE, f"{type(error).__name__}: {error}") from error
        return result.as_dict()

    def close(self) -> None:
        self._client.close()
        close_credential(self._credential)
