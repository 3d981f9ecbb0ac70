"""Every reason code, in one registry: users search logs, dashboards and API answers for these strings.

A code names one fault, never where it was found: `area.snake_case` or `area.kind.snake_case`. Reason members are
`str`, so they compare, store and serialise as the code itself. Adding a code: a member here and its one-line
description (what happened, what the user can do); tests/unit/test_reasons.py fails on a code used but not listed.
`python -m shared.domain.reasons` prints the Markdown table of README.md's "Reason codes".
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class Reason(StrEnum):
    """A searchable reason code; the value is the code."""

    # Blob storage
    BLOB_CHANGED_WHILE_READING = "blob.changed_while_reading"
    BLOB_INVALID_CONTAINER = "blob.invalid_container"
    BLOB_INVALID_PATH = "blob.invalid_path"
    BLOB_SERVER_ALREADY_RUNNING = "blob.server_already_running"
    BLOB_SERVER_START_FAILED = "blob.server_start_failed"
    BLOB_SERVER_STOP_FAILED = "blob.server_stop_failed"
    BLOB_SERVER_UNRESPONSIVE = "blob.server_unresponsive"
    BLOB_UNAVAILABLE = "blob.unavailable"
    # Message bus
    BUS_LOCK_LOST = "bus.lock_lost"
    BUS_MESSAGE_TOO_LARGE = "bus.message_too_large"
    BUS_SEND_FAILED = "bus.send_failed"
    # Settings
    CONFIG_BACKEND_UNAVAILABLE = "config.backend_unavailable"
    CONFIG_DELIVERY_COUNT_MISMATCH = "config.delivery_count_mismatch"
    CONFIG_INGESTION_INVALID = "config.ingestion_invalid"
    CONFIG_INVALID_SETTING = "config.invalid_setting"
    CONFIG_LOCAL_BACKEND_ON_AZURE = "config.local_backend_on_azure"
    CONFIG_SETTING_MISSING = "config.setting_missing"
    # Delivery of queue messages
    DELIVERY_MAX_COUNT_EXCEEDED = "delivery.max_count_exceeded"
    # OCR of documents with no text layer (Azure AI Document Intelligence)
    OCR_REFUSED = "ocr.refused"
    OCR_UNAVAILABLE = "ocr.unavailable"
    # Deletes
    DELETE_STALE_EVENT = "delete.stale_event"
    # The local host (`tributary dev`)
    DEVHOST_AZURITE_NOT_INSTALLED = "devhost.azurite_not_installed"
    DEVHOST_DATA_DIR_IN_USE = "devhost.data_dir_in_use"
    DEVHOST_FALKORDB_NOT_INSTALLED = "devhost.falkordb_not_installed"
    DEVHOST_KEYS_UNREADABLE = "devhost.keys_unreadable"
    DEVHOST_NODE_NOT_INSTALLED = "devhost.node_not_installed"
    DEVHOST_PORT_IN_USE = "devhost.port_in_use"
    DEVHOST_PORT_NOT_PERMITTED = "devhost.port_not_permitted"
    DEVHOST_ROUTE_INVALID = "devhost.route_invalid"
    # Embeddings
    EMBED_ACCESS_DENIED = "embed.access_denied"
    EMBED_BAD_RESPONSE = "embed.bad_response"
    EMBED_INPUT_TOO_LONG = "embed.input_too_long"
    EMBED_REFUSED = "embed.refused"
    EMBED_THROTTLED = "embed.throttled"
    EMBED_UNAVAILABLE = "embed.unavailable"
    # Entity extraction
    EXTRACTION_SCHEMA_INVALID = "extraction.schema_invalid"
    # Graph store
    GRAPH_CHUNK_DOCUMENT_MISMATCH = "graph.chunk_document_mismatch"
    GRAPH_CONFLICT = "graph.conflict"
    GRAPH_CONSTRAINT_FAILED = "graph.constraint_failed"
    GRAPH_INVALID_TYPE = "graph.invalid_type"
    GRAPH_QUERY_FAILED = "graph.query_failed"
    GRAPH_SERVER_ALREADY_RUNNING = "graph.server_already_running"
    GRAPH_SERVER_START_FAILED = "graph.server_start_failed"
    GRAPH_SERVER_STOP_FAILED = "graph.server_stop_failed"
    GRAPH_SERVER_UNRESPONSIVE = "graph.server_unresponsive"
    GRAPH_UNAVAILABLE = "graph.unavailable"
    # The health endpoint
    HEALTH_PORTS_UNAVAILABLE = "health.ports_unavailable"
    HEALTH_PROBE_FAILED = "health.probe_failed"
    HEALTH_PROBE_TIMEOUT = "health.probe_timeout"
    # The jobs API
    JOB_NOT_FOUND = "job.not_found"
    # Size and count caps: the detail gives the cap
    LIMITS_ATTACHMENT_DEPTH = "limits.attachment_depth"
    LIMITS_DECOMPRESSED_TOO_LARGE = "limits.decompressed_too_large"
    LIMITS_FIELD_TOO_LARGE = "limits.field_too_large"
    LIMITS_FILE_TOO_LARGE = "limits.file_too_large"
    LIMITS_LINE_TOO_LONG = "limits.line_too_long"
    LIMITS_NUMBER_TOO_LONG = "limits.number_too_long"
    LIMITS_PARAGRAPH_TOO_LARGE = "limits.paragraph_too_large"
    LIMITS_RECORD_TOO_LARGE = "limits.record_too_large"
    LIMITS_ROW_TOO_LARGE = "limits.row_too_large"
    LIMITS_TOO_MANY_ATTACHMENTS = "limits.too_many_attachments"
    LIMITS_TOO_MANY_FIELDS = "limits.too_many_fields"
    LIMITS_TOO_MANY_ISSUES = "limits.too_many_issues"
    LIMITS_TOO_MANY_MEMBERS = "limits.too_many_members"
    LIMITS_TOO_MANY_PARTS = "limits.too_many_parts"
    LIMITS_TOO_MANY_RECORDS = "limits.too_many_records"
    # Queue messages between stages
    MESSAGE_CLAIM_CHECK_MISSING = "message.claim_check_missing"
    MESSAGE_MALFORMED = "message.malformed"
    MESSAGE_UNKNOWN_JOB = "message.unknown_job"
    MESSAGE_WRONG_QUEUE = "message.wrong_queue"
    # Parsing, by format
    PARSE_CSV_HEADER_RENAMED = "parse.csv.header_renamed"
    PARSE_CSV_INVALID_DELIMITER = "parse.csv.invalid_delimiter"
    PARSE_CSV_MALFORMED = "parse.csv.malformed"
    PARSE_CSV_NUL_BYTE = "parse.csv.nul_byte"
    PARSE_CSV_RAGGED_ROW = "parse.csv.ragged_row"
    PARSE_EMAIL_BAD_HEADER = "parse.email.bad_header"
    PARSE_EMAIL_DEFECT = "parse.email.defect"
    PARSE_EMAIL_MALFORMED = "parse.email.malformed"
    PARSE_EMAIL_TOO_DEEP = "parse.email.too_deep"
    PARSE_EMAIL_TOO_LARGE = "parse.email.too_large"
    PARSE_ENCODING_LATIN1_FALLBACK = "parse.encoding.latin1_fallback"
    PARSE_ENCODING_UNKNOWN = "parse.encoding.unknown"
    PARSE_HTML_MALFORMED = "parse.html.malformed"
    PARSE_HTML_TOO_DEEP = "parse.html.too_deep"
    PARSE_HTML_TOO_LARGE = "parse.html.too_large"
    PARSE_JSON_INVALID = "parse.json.invalid"
    PARSE_JSON_LONE_SURROGATE = "parse.json.lone_surrogate"
    PARSE_JSON_RECORD_PATH_NOT_FOUND = "parse.json.record_path_not_found"
    PARSE_JSON_TOO_DEEP = "parse.json.too_deep"
    PARSE_JSONL_BAD_LINE = "parse.jsonl.bad_line"
    PARSE_MARKDOWN_TOO_LARGE = "parse.markdown.too_large"
    PARSE_MSG_MALFORMED = "parse.msg.malformed"
    PARSE_OFFICE_ENCRYPTED = "parse.office.encrypted"
    PARSE_OFFICE_IMAGE_SKIPPED = "parse.office.image_skipped"
    PARSE_OFFICE_LEGACY_DOC = "parse.office.legacy_doc"
    PARSE_OFFICE_LEGACY_PPT = "parse.office.legacy_ppt"
    PARSE_OFFICE_LEGACY_XLS = "parse.office.legacy_xls"
    PARSE_OFFICE_MALFORMED = "parse.office.malformed"
    PARSE_OFFICE_OPENDOCUMENT = "parse.office.opendocument"
    PARSE_OFFICE_SHEET_NOT_FOUND = "parse.office.sheet_not_found"
    PARSE_OFFICE_UNSUPPORTED_PACKAGE = "parse.office.unsupported_package"
    PARSE_OLE_UNKNOWN = "parse.ole.unknown"
    PARSE_PARQUET_BINARY_SKIPPED = "parse.parquet.binary_skipped"
    PARSE_PARQUET_MALFORMED = "parse.parquet.malformed"
    PARSE_PDF_ENCRYPTED = "parse.pdf.encrypted"
    PARSE_PDF_MALFORMED = "parse.pdf.malformed"
    PARSE_PDF_NO_TEXT = "parse.pdf.no_text"
    PARSE_PDF_PAGE_FAILED = "parse.pdf.page_failed"
    PARSE_TEXT_DECODE_ERROR = "parse.text.decode_error"
    PARSE_XML_DTD_FORBIDDEN = "parse.xml.dtd_forbidden"
    PARSE_XML_ENTITIES_FORBIDDEN = "parse.xml.entities_forbidden"
    PARSE_XML_EXTERNAL_REFERENCE_FORBIDDEN = "parse.xml.external_reference_forbidden"
    PARSE_XML_MALFORMED = "parse.xml.malformed"
    PARSE_XML_TOO_DEEP = "parse.xml.too_deep"
    PARSE_ZIP_ENCRYPTED = "parse.zip.encrypted"
    PARSE_ZIP_MALFORMED = "parse.zip.malformed"
    PARSE_ZIP_RATIO_EXCEEDED = "parse.zip.ratio_exceeded"
    PARSE_ZIP_SYMLINK = "parse.zip.symlink"
    # HTTP requests
    REQUEST_INVALID_FILTER = "request.invalid_filter"
    REQUEST_INVALID_JSON = "request.invalid_json"
    REQUEST_INVALID_QUERY = "request.invalid_query"
    # Checks before parsing
    VALIDATE_BINARY_CONTENT = "validate.binary_content"
    VALIDATE_EMPTY_FILE = "validate.empty_file"
    VALIDATE_EXTENSION_MISMATCH = "validate.extension_mismatch"
    VALIDATE_REFUSED_TYPE = "validate.refused_type"
    VALIDATE_UNSUPPORTED_TYPE = "validate.unsupported_type"
    # Vector store
    VECTOR_ACCESS_DENIED = "vector.access_denied"
    VECTOR_BAD_EMBEDDING = "vector.bad_embedding"
    VECTOR_BAD_QUERY = "vector.bad_query"
    VECTOR_DIMENSION_MISMATCH = "vector.dimension_mismatch"
    VECTOR_DOCUMENT_REJECTED = "vector.document_rejected"
    VECTOR_PARTIAL_FAILURE = "vector.partial_failure"
    VECTOR_REQUEST_REJECTED = "vector.request_rejected"
    VECTOR_SCHEMA_MISMATCH = "vector.schema_mismatch"
    VECTOR_UNAVAILABLE = "vector.unavailable"
    # The local host's Event Grid webhook
    WEBHOOK_NO_MATCHING_TRIGGER = "webhook.no_matching_trigger"

    @property
    def description(self) -> str:
        """What happened and what the user can do, in one line."""
        return DESCRIPTIONS[self]

    # Added with the job stores, the local host's queues and the ingest guard
    BUS_ENTITY_NOT_FOUND = "bus.entity_not_found"
    BUS_QUEUE_PROPERTY_FIXED = "bus.queue_property_fixed"
    INGEST_NOT_INCOMING_CONTAINER = "ingest.not_incoming_container"
    JOBSTORE_CONTENTION = "jobstore.contention"
    JOBSTORE_JOB_TOO_LARGE = "jobstore.job_too_large"
    JOBSTORE_SERVER_ALREADY_RUNNING = "jobstore.server_already_running"
    JOBSTORE_SERVER_START_FAILED = "jobstore.server_start_failed"
    JOBSTORE_SERVER_STOP_FAILED = "jobstore.server_stop_failed"
    JOBSTORE_SERVER_UNRESPONSIVE = "jobstore.server_unresponsive"
    JOBSTORE_UNAVAILABLE = "jobstore.unavailable"
    # Added with bulk operations (POST /api/bulk, tributary bulk)
    BULK_BLOB_MISSING = "bulk.blob_missing"
    BULK_CANCELLED = "bulk.cancelled"
    BULK_INVALID_REQUEST = "bulk.invalid_request"
    BULK_ITEM_GAVE_UP = "bulk.item_gave_up"
    BULK_NO_SELECTOR = "bulk.no_selector"
    BULK_NOT_FOUND = "bulk.not_found"
    BULK_NOT_INCOMING_CONTAINER = "bulk.not_incoming_container"
    BULK_ORCHESTRATION_FAILED = "bulk.orchestration_failed"
    BULK_TOO_MANY_PATHS = "bulk.too_many_paths"
    BULK_UNKNOWN_DOCUMENT = "bulk.unknown_document"
    # Added with the LLM extractor
    LLM_ACCESS_DENIED = "llm.access_denied"
    LLM_BAD_RESPONSE = "llm.bad_response"
    LLM_CHUNK_TOO_LONG = "llm.chunk_too_long"
    LLM_CONTENT_FILTERED = "llm.content_filtered"
    LLM_JOB_BUDGET_SPENT = "llm.job_budget_spent"
    LLM_MINUTE_BUDGET_SPENT = "llm.minute_budget_spent"
    LLM_REFUSED = "llm.refused"
    LLM_THROTTLED = "llm.throttled"
    LLM_TRUNCATED = "llm.truncated"
    LLM_UNAVAILABLE = "llm.unavailable"
    # Added with the operations API (problem documents, job listing, retry)
    API_INTERNAL_ERROR = "api.internal_error"
    REQUEST_INVALID_BODY = "request.invalid_body"
    REQUEST_INVALID_CURSOR = "request.invalid_cursor"
    RETRY_BLOB_MISSING = "retry.blob_missing"
    RETRY_JOB_NOT_FINISHED = "retry.job_not_finished"
    RETRY_NOT_SUPPORTED = "retry.not_supported"
    # Added with the trace API (GET /api/trace/{tracking_id}, client tracking ids)
    INGEST_TRACKING_ID_INVALID = "ingest.tracking_id_invalid"
    TRACE_NOT_FOUND = "trace.not_found"
    # Added with the dead-letter listing and replay
    DEADLETTER_BUS_UNSUPPORTED = "deadletter.bus_unsupported"
    DEADLETTER_DUPLICATE_WINDOW_OPEN = "deadletter.duplicate_window_open"
    DEADLETTER_JOB_FINISHED = "deadletter.job_finished"
    DEADLETTER_JOB_INCOMPLETE = "deadletter.job_incomplete"
    DEADLETTER_JOB_SUPERSEDED = "deadletter.job_superseded"
    DEADLETTER_NOT_REPLAYABLE = "deadletter.not_replayable"
    DEADLETTER_QUEUE_UNKNOWN = "deadletter.queue_unknown"
    # Added with completion notifications (TRIBUTARY_NOTIFY_*)
    NOTIFY_DELIVERY_FAILED = "notify.delivery_failed"


_R = Reason
DESCRIPTIONS: dict[Reason, str] = {
    _R.BLOB_CHANGED_WHILE_READING: "The blob was overwritten while it was read; the redelivery reads the new version.",
    _R.BLOB_INVALID_CONTAINER: "A container name Azure refuses; use 3-63 lowercase letters, digits and single hyphens.",
    _R.BLOB_INVALID_PATH: "A blob path that is empty or too long; rename the file.",
    _R.BLOB_SERVER_ALREADY_RUNNING: "Another Azurite already serves this data directory; stop it or use another one.",
    _R.BLOB_SERVER_START_FAILED: "The local Azurite did not start; its log file in the data directory says why.",
    _R.BLOB_SERVER_STOP_FAILED: "The local Azurite did not stop; end its process, then start again.",
    _R.BLOB_SERVER_UNRESPONSIVE: "The local Azurite runs but does not answer; restart `tributary dev`.",
    _R.BLOB_UNAVAILABLE: "Blob storage could not be reached; retried, check the storage account if it persists.",
    _R.BUS_LOCK_LOST: "A message's lock expired before it was settled; it is redelivered, a slow stage may need time.",
    _R.BUS_MESSAGE_TOO_LARGE: "A queue message exceeds the bus's size limit; lower the batch size settings.",
    _R.BUS_SEND_FAILED: "Sending to Service Bus failed; retried, check the namespace if it persists.",
    _R.CONFIG_BACKEND_UNAVAILABLE: "The chosen backend cannot run in this host; pick another one in the settings.",
    _R.CONFIG_DELIVERY_COUNT_MISMATCH: "Queue MaxDeliveryCount is not TRIBUTARY_MAX_DELIVERY_COUNT; make them equal.",
    _R.CONFIG_INGESTION_INVALID: "ingestion.yaml is not valid; the detail names the entry to fix.",
    _R.CONFIG_INVALID_SETTING: "A setting has a value it does not allow; the detail names it and what it accepts.",
    _R.CONFIG_LOCAL_BACKEND_ON_AZURE: "A local-only backend or the storage emulator is set on Azure; set a cloud one.",
    _R.CONFIG_SETTING_MISSING: "A setting the chosen backend needs is unset; set the one the detail names.",
    _R.DELIVERY_MAX_COUNT_EXCEEDED: "A message failed every allowed delivery and was dead-lettered; see its error.",
    _R.DEVHOST_AZURITE_NOT_INSTALLED: "Azurite, the local blob emulator, is missing; run `npm ci` (or `make`).",
    _R.DEVHOST_DATA_DIR_IN_USE: "Another local host uses this data directory; stop it or choose another directory.",
    _R.DEVHOST_FALKORDB_NOT_INSTALLED: "FalkorDB (redis-server with its module) is missing; install it as README says.",
    _R.DEVHOST_KEYS_UNREADABLE: "The local host's function keys file cannot be read; fix or delete it.",
    _R.DEVHOST_NODE_NOT_INSTALLED: "Node.js, which runs Azurite, is not on PATH; install Node.js.",
    _R.DEVHOST_PORT_IN_USE: "The port the local host wants is taken; stop what holds it or choose another port.",
    _R.DEVHOST_PORT_NOT_PERMITTED: "The local host may not listen on this port; choose a port above 1023.",
    _R.DEVHOST_ROUTE_INVALID: "A function's HTTP route template cannot be served; fix the route in its trigger.",
    _R.EMBED_ACCESS_DENIED: "The embedding service refused the credential (401/403); check the key or the role.",
    _R.EMBED_BAD_RESPONSE: "The embedding service answered with a body that is not one vector per input; retried.",
    _R.EMBED_INPUT_TOO_LONG: "A chunk has more tokens than the embedding model takes; lower the chunk size settings.",
    _R.EMBED_REFUSED: "The embedding service refused the request (400/404); check the deployment and its settings.",
    _R.EMBED_THROTTLED: "The embedding deployment is still throttling (429) after retries; retried, raise its quota.",
    _R.EMBED_UNAVAILABLE: "The embedding service failed or timed out (5xx, connection); retried.",
    _R.EXTRACTION_SCHEMA_INVALID: "The extraction schema is not valid; the detail names the entry to fix.",
    _R.GRAPH_CHUNK_DOCUMENT_MISMATCH: "A chunk was written under a document it does not belong to; a bug, report it.",
    _R.GRAPH_CONFLICT: "Two writers created the same graph node at once; retried automatically.",
    _R.GRAPH_CONSTRAINT_FAILED: "The graph holds duplicate ids, so its unique constraint fails; reset the graph.",
    _R.GRAPH_INVALID_TYPE: "A relation type the graph refuses; use UPPER_SNAKE_CASE and not HAS_CHUNK or MENTIONS.",
    _R.GRAPH_QUERY_FAILED: "The graph store refused a query; the detail holds its error.",
    _R.GRAPH_SERVER_ALREADY_RUNNING: "Another FalkorDB already serves this data directory; stop it or use another one.",
    _R.GRAPH_SERVER_START_FAILED: "The local FalkorDB did not start; its log file in the data directory says why.",
    _R.GRAPH_SERVER_STOP_FAILED: "The local FalkorDB did not stop; end its process, then start again.",
    _R.GRAPH_SERVER_UNRESPONSIVE: "The local FalkorDB runs but does not answer; restart `tributary dev`.",
    _R.GRAPH_UNAVAILABLE: "The graph store could not be reached; retried, check the server if it persists.",
    _R.HEALTH_PORTS_UNAVAILABLE: "The health check could not open the app's backends; the detail says which and why.",
    _R.HEALTH_PROBE_FAILED: "A dependency's health probe failed; the detail holds its error.",
    _R.HEALTH_PROBE_TIMEOUT: "A dependency did not answer its health probe in time; check that it runs.",
    _R.JOB_NOT_FOUND: "No job has this id; list jobs to find the right one.",
    _R.LIMITS_ATTACHMENT_DEPTH: "Archives or attachments nest deeper than the cap; unpack the inner ones first.",
    _R.LIMITS_DECOMPRESSED_TOO_LARGE: "The archive inflates to more than the cap; split it into smaller archives.",
    _R.LIMITS_FIELD_TOO_LARGE: "A field is longer than the cap, often an unclosed quote; check it.",
    _R.LIMITS_FILE_TOO_LARGE: "The file is larger than the cap; split it or raise TRIBUTARY_FILE_MAX_BYTES.",
    _R.LIMITS_LINE_TOO_LONG: "A line is longer than the cap; check the file's line ends.",
    _R.LIMITS_NUMBER_TOO_LONG: "A JSON number has too many digits to convert; shorten it or quote it as a string.",
    _R.LIMITS_PARAGRAPH_TOO_LARGE: "A paragraph is longer than the cap; split it.",
    _R.LIMITS_RECORD_TOO_LARGE: "One XML record holds more text than the cap; split the record.",
    _R.LIMITS_ROW_TOO_LARGE: "One CSV row is larger than the cap, often an unclosed quote; check the quoting.",
    _R.LIMITS_TOO_MANY_ATTACHMENTS: "Attachments past the cap were listed, not parsed; send the rest separately.",
    _R.LIMITS_TOO_MANY_FIELDS: "A row or object has more fields than the cap; the rest were dropped.",
    _R.LIMITS_TOO_MANY_ISSUES: "The file has too many issues; fix it or raise TRIBUTARY_MAX_ISSUES_PER_FILE.",
    _R.LIMITS_TOO_MANY_MEMBERS: "The archive holds more members than the cap; split it.",
    _R.LIMITS_TOO_MANY_PARTS: "The email has more MIME parts than the cap; it is not ingested.",
    _R.LIMITS_TOO_MANY_RECORDS: "The file holds more records than the cap; split it.",
    _R.MESSAGE_CLAIM_CHECK_MISSING: "The blob a queue message points to is gone; re-ingest the file.",
    _R.MESSAGE_MALFORMED: "A queue message is not a valid envelope; it was dead-lettered, check who sent it.",
    _R.MESSAGE_UNKNOWN_JOB: "A queue message names a job the job store does not hold; re-ingest the file.",
    _R.MESSAGE_WRONG_QUEUE: "A message for one stage reached another stage's queue; check the queue settings.",
    _R.PARSE_CSV_HEADER_RENAMED: "Blank or duplicate CSV header names were renamed; name the columns uniquely.",
    _R.PARSE_CSV_INVALID_DELIMITER: "The configured delimiter is not one plain character; fix it in ingestion.yaml.",
    _R.PARSE_CSV_MALFORMED: "The CSV cannot be read (often a stray quote); the detail gives the line.",
    _R.PARSE_CSV_NUL_BYTE: "A CSV row held NUL bytes, replaced by U+FFFD; check the export that made the file.",
    _R.PARSE_CSV_RAGGED_ROW: "A row has a different number of cells than the header; check the row.",
    _R.PARSE_EMAIL_BAD_HEADER: "An email header could not be read and was skipped; the detail names it.",
    _R.PARSE_EMAIL_DEFECT: "A MIME part has a defect the parser worked around; the text may be incomplete.",
    _R.PARSE_EMAIL_MALFORMED: "The email cannot be parsed as RFC 822/MIME; check that it is a .eml file.",
    _R.PARSE_EMAIL_TOO_DEEP: "The email's MIME parts nest too deeply to parse.",
    _R.PARSE_EMAIL_TOO_LARGE: "The email is larger than the cap for formats read whole; split it.",
    _R.PARSE_ENCODING_LATIN1_FALLBACK: "The text is not UTF-8 and was read as Windows-1252; set the encoding if wrong.",
    _R.PARSE_ENCODING_UNKNOWN: "The encoding named in the settings or file is unknown or not a text encoding; fix it.",
    _R.PARSE_HTML_MALFORMED: "The HTML cannot be parsed; check that the file is HTML.",
    _R.PARSE_HTML_TOO_DEEP: "HTML elements nest deeper than the parser allows.",
    _R.PARSE_HTML_TOO_LARGE: "The HTML is larger than the cap for formats read whole; split it.",
    _R.PARSE_JSON_INVALID: "The file is not valid JSON; the detail gives the position.",
    _R.PARSE_JSON_LONE_SURROGATE: "A JSON string escapes half a UTF-16 pair; it was replaced by U+FFFD.",
    _R.PARSE_JSON_RECORD_PATH_NOT_FOUND: "The record_path set in ingestion.yaml matches nothing in the file; fix it.",
    _R.PARSE_JSON_TOO_DEEP: "JSON values nest too deeply to decode.",
    _R.PARSE_JSONL_BAD_LINE: "A JSON Lines line is not valid JSON and was skipped; the locator gives the line.",
    _R.PARSE_MARKDOWN_TOO_LARGE: "The Markdown is larger than the cap for formats read whole; split it.",
    _R.PARSE_MSG_MALFORMED: "The Outlook .msg file is damaged or not a message; the detail says where.",
    _R.PARSE_OFFICE_ENCRYPTED: "The Office file is password-protected; save it without a password to ingest it.",
    _R.PARSE_OFFICE_IMAGE_SKIPPED: "Images in the document were skipped: text in images is not read (no OCR).",
    _R.PARSE_OFFICE_LEGACY_DOC: "A legacy binary Word .doc is not read; save it as .docx (or PDF) and ingest that.",
    _R.PARSE_OFFICE_LEGACY_PPT: "A legacy binary PowerPoint .ppt is not read; save it as .pptx (or PDF).",
    _R.PARSE_OFFICE_LEGACY_XLS: "A legacy binary Excel .xls is not read; save it as .xlsx (or CSV) and ingest that.",
    _R.PARSE_OFFICE_MALFORMED: "The Office package is damaged (a missing or broken part); the detail names it.",
    _R.PARSE_OFFICE_OPENDOCUMENT: "An OpenDocument file (.odt/.ods/.odp) is not read yet; save it in an Office format.",
    _R.PARSE_OFFICE_SHEET_NOT_FOUND: "The workbook has no sheet of the name the ingestion rule selects; fix the rule.",
    _R.PARSE_OFFICE_UNSUPPORTED_PACKAGE: "An Office package of a kind not read (Visio, .xlsb, …); the detail names it.",
    _R.PARSE_OLE_UNKNOWN: "An OLE2 compound file that is neither an Outlook .msg nor a legacy Office file.",
    _R.PARSE_PARQUET_BINARY_SKIPPED: "Binary Parquet columns are not read as text; the detail names them.",
    _R.PARSE_PARQUET_MALFORMED: "The Parquet file is damaged (footer, schema or a row group); the detail says where.",
    _R.PARSE_PDF_ENCRYPTED: "The PDF needs a password (an empty one was tried); save it unprotected to ingest it.",
    _R.PARSE_PDF_MALFORMED: "The PDF is damaged beyond what the reader repairs; the detail says where.",
    _R.PARSE_PDF_NO_TEXT: "The PDF has no text layer (a scan?) and OCR is not configured (or found no text either).",
    _R.PARSE_PDF_PAGE_FAILED: "One PDF page could not be read and was skipped; the locator gives the page.",
    _R.PARSE_TEXT_DECODE_ERROR: "Bytes not valid in the file's encoding; set the right encoding or fix the file.",
    _R.PARSE_XML_DTD_FORBIDDEN: "An Office part declares a DTD, which no Office file has; the file was crafted.",
    _R.PARSE_XML_ENTITIES_FORBIDDEN: "The XML declares entities, which are refused for safety (entity bombs).",
    _R.PARSE_XML_EXTERNAL_REFERENCE_FORBIDDEN: "The XML references external resources, which are never fetched.",
    _R.PARSE_XML_MALFORMED: "The XML is not well-formed; the detail gives the position.",
    _R.PARSE_XML_TOO_DEEP: "XML elements nest too deeply to parse.",
    _R.PARSE_ZIP_ENCRYPTED: "An encrypted archive member was skipped; supply it unencrypted.",
    _R.PARSE_ZIP_MALFORMED: "The ZIP archive cannot be read; check that it is complete.",
    _R.PARSE_ZIP_RATIO_EXCEEDED: "An archive member compresses more than the cap allows (a zip bomb?); it is refused.",
    _R.PARSE_ZIP_SYMLINK: "A symbolic link in the archive was skipped; links are never followed.",
    _R.REQUEST_INVALID_FILTER: "A search filter does not parse (field:value terms) or names an unknown field.",
    _R.REQUEST_INVALID_JSON: "The request body is not valid JSON; fix the request.",
    _R.REQUEST_INVALID_QUERY: "The request's query parameters are not valid; the detail names them.",
    _R.VALIDATE_BINARY_CONTENT: "The file is neither text nor a format Tributary reads; it is not ingested.",
    _R.VALIDATE_EMPTY_FILE: "The file is empty; upload it again with content.",
    _R.VALIDATE_EXTENSION_MISMATCH: "The content is not what the file's extension says; it was read as its content.",
    _R.VALIDATE_REFUSED_TYPE: "The content is a type never ingested (executables, scripts, media); it is refused.",
    _R.VALIDATE_UNSUPPORTED_TYPE: "No parser reads this content type; convert the file to a supported format.",
    _R.VECTOR_ACCESS_DENIED: "The search service refused the credential (401/403); check the key or the role assigned.",
    _R.VECTOR_BAD_EMBEDDING: "A chunk's embedding is missing or has the wrong dimension; check the embedder setting.",
    _R.VECTOR_BAD_QUERY: "A query vector has the wrong dimension; embed it with the same model as the store.",
    _R.VECTOR_DIMENSION_MISMATCH: "The vector index was made by another embedder (name or dimension); reset it or "
    "configure that embedder.",
    _R.VECTOR_DOCUMENT_REJECTED: "The search index refused a chunk for good (a 400 for one document); see the message.",
    _R.VECTOR_PARTIAL_FAILURE: "Some chunks stayed unindexed after retries (throttled or busy index); retried later.",
    _R.VECTOR_REQUEST_REJECTED: "The search service refused a request as malformed (400); check the index definition.",
    _R.VECTOR_SCHEMA_MISMATCH: "The vector table has columns this version cannot write; reset it or use another table.",
    _R.VECTOR_UNAVAILABLE: "The vector store's files cannot be written (disk full, permissions); retried.",
    _R.WEBHOOK_NO_MATCHING_TRIGGER: "An Event Grid event matched no blob trigger; check the container and path.",
    _R.BUS_ENTITY_NOT_FOUND: "The queue does not exist; create it (infra/ does on Azure, the local host does locally).",
    _R.BUS_QUEUE_PROPERTY_FIXED: "Duplicate detection is fixed when a queue is created; recreate the queue.",
    _R.OCR_REFUSED: "Document Intelligence refused the document or the credential; the detail says why.",
    _R.OCR_UNAVAILABLE: "Document Intelligence was throttled or unreachable; retried, check the resource if it lasts.",
    _R.DELETE_STALE_EVENT: "A BlobDeleted event came for a blob that exists again; ignored, the new upload stands.",
    _R.INGEST_NOT_INCOMING_CONTAINER: "An event of another container (claim checks) was ignored; filter the events.",
    _R.JOBSTORE_CONTENTION: "A job changed under every compare-and-set attempt; retried.",
    _R.JOBSTORE_JOB_TOO_LARGE: "The job's Cosmos DB item would pass 2 MB (too many batches); raise the batch size.",
    _R.JOBSTORE_SERVER_ALREADY_RUNNING: "A Cosmos DB stand-in already runs for this data directory; reuse or stop it.",
    _R.JOBSTORE_SERVER_START_FAILED: "The Cosmos DB stand-in did not start; read its log.",
    _R.JOBSTORE_SERVER_STOP_FAILED: "The Cosmos DB stand-in did not stop; kill the process its state file names.",
    _R.JOBSTORE_SERVER_UNRESPONSIVE: "The Cosmos DB stand-in does not answer; read its log.",
    _R.JOBSTORE_UNAVAILABLE: "The job store is throttled or unreachable; retried, check the account if it persists.",
    _R.BULK_BLOB_MISSING: "A blob a bulk run selected was gone when its turn came; skipped.",
    _R.BULK_CANCELLED: "The bulk run was terminated; its counts say what ran before the stop.",
    _R.BULK_INVALID_REQUEST: "A bulk request that does not fit its schema (a field missing, unknown or invalid).",
    _R.BULK_ITEM_GAVE_UP: "A blob of a bulk run still failed after its retries (a dependency down); run it again.",
    _R.BULK_NO_SELECTOR: 'A bulk request selects nothing: give a prefix ("" for all), modified_since or paths.',
    _R.BULK_NOT_FOUND: "No bulk run has this id.",
    _R.BULK_NOT_INCOMING_CONTAINER: "A bulk run works on the incoming container only (documents are its blobs).",
    _R.BULK_ORCHESTRATION_FAILED: "The bulk run's orchestration failed; its counts say what ran, its output says why.",
    _R.BULK_TOO_MANY_PATHS: "Too many explicit paths in one bulk request; select by prefix, or split the request.",
    _R.BULK_UNKNOWN_DOCUMENT: "A bulk delete found no document for the blob (never ingested); skipped.",
    _R.LLM_ACCESS_DENIED: "The chat model refused the credential (401/403); the offline extractor ran instead.",
    _R.LLM_BAD_RESPONSE: "The chat model's answer was not JSON of the asked shape; the offline extractor ran instead.",
    _R.LLM_CHUNK_TOO_LONG: "A chunk alone exceeds TRIBUTARY_LLM_REQUEST_TOKENS; the offline extractor read it.",
    _R.LLM_CONTENT_FILTERED: "The service's content filter stopped the answer; the offline extractor read the text.",
    _R.LLM_JOB_BUDGET_SPENT: "The job spent TRIBUTARY_LLM_TOKENS_PER_JOB; its rest went to the offline extractor.",
    _R.LLM_MINUTE_BUDGET_SPENT: "All workers spent TRIBUTARY_LLM_TOKENS_PER_MINUTE; the offline extractor ran instead.",
    _R.LLM_REFUSED: "The chat model refused the request (400/404, or a refusal); check the deployment settings.",
    _R.LLM_THROTTLED: "The chat deployment still throttled (429) after retries; the offline extractor ran instead.",
    _R.LLM_TRUNCATED: "The answer hit the output token cap even for one chunk; raise TRIBUTARY_LLM_OUTPUT_TOKENS.",
    _R.LLM_UNAVAILABLE: "The chat model failed or timed out (5xx, connection) after retries; offline extractor ran.",
    _R.API_INTERNAL_ERROR: "The operation failed unexpectedly; the app's log holds the traceback for this request.",
    _R.REQUEST_INVALID_BODY: "The request's JSON body does not match its model; `errors` names each field.",
    _R.REQUEST_INVALID_CURSOR: "A page cursor this API did not hand out, or altered; list again without it.",
    _R.RETRY_BLOB_MISSING: "The failed job's file is no longer in its container; upload it again instead.",
    _R.RETRY_JOB_NOT_FINISHED: "The job has not finished yet; only a failed job can be retried.",
    _R.RETRY_NOT_SUPPORTED: "Only ingest jobs are retried; a delete is repeated with DELETE /api/documents/{id}.",
    _R.INGEST_TRACKING_ID_INVALID: "The blob's tracking_id metadata was refused (over 128 characters, or not only "
    "letters, digits and - _ . :); the job is tracked by its trace id.",
    _R.TRACE_NOT_FOUND: "No job has this id or tracking id; check the id, or list jobs to find the file's.",
    _R.DEADLETTER_BUS_UNSUPPORTED: "This bus cannot read its dead-letter subqueues; use the local host or Service Bus.",
    _R.DEADLETTER_DUPLICATE_WINDOW_OPEN: "Held: a resend inside the duplicate detection window would be dropped; "
    "replay after the time given.",
    _R.DEADLETTER_JOB_FINISHED: "The message's job has succeeded or was skipped since; nothing to replay.",
    _R.DEADLETTER_JOB_INCOMPLETE: "The job failed before its file was fully parsed; retry the job instead.",
    _R.DEADLETTER_JOB_SUPERSEDED: "A newer job of the document exists (a retry, a new upload, a delete); retry that.",
    _R.DEADLETTER_NOT_REPLAYABLE: "Only ingest jobs' messages are replayed; repeat a delete with its API.",
    _R.DEADLETTER_QUEUE_UNKNOWN: "No stage or configured queue has this name; use a stage name or a queue setting.",
    _R.NOTIFY_DELIVERY_FAILED: "The job's completion event was not delivered after retries; it is kept under "
    "notifications/dead-letter/ in the work container. The job's own state is unaffected.",
}


def markdown_table() -> str:
    """The registry as a Markdown table: code | meaning."""
    rows = [f"| `{reason}` | {DESCRIPTIONS[reason]} |" for reason in Reason]
    return "\n".join(["| code | meaning |", "| --- | --- |", *rows])


if __name__ == "__main__":
    print(markdown_table())
