-- Bulk jobs (shared/bulk/): one per bulk run (POST /api/bulk, tributary bulk). Its counts are never stored as
-- numbers to keep right: they are read from the pages listed (a marker per page, so a page listed again after a
-- redelivered activity counts once) and from the items run (one row per blob, the first outcome standing), each
-- item linked to the document job it started. A run cancelled midway so still says truthfully what ran.
-- SQLite flavour: timestamps are ISO 8601 UTC text with microseconds, so they sort as they compare.

CREATE TABLE bulk_jobs (
    bulk_id     TEXT PRIMARY KEY,
    operation   TEXT NOT NULL,
    container   TEXT NOT NULL,
    selector    TEXT NOT NULL DEFAULT '',
    dry_run     INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL,
    reason_code TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX bulk_jobs_created_idx ON bulk_jobs (created_at DESC, bulk_id DESC);

CREATE TABLE bulk_pages (
    bulk_id      TEXT NOT NULL REFERENCES bulk_jobs (bulk_id) ON DELETE CASCADE,
    page         INTEGER NOT NULL,
    listed       INTEGER NOT NULL,
    listed_bytes INTEGER NOT NULL,
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (bulk_id, page)
);

CREATE TABLE bulk_items (
    bulk_id     TEXT NOT NULL REFERENCES bulk_jobs (bulk_id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    job_id      TEXT,
    reason_code TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (bulk_id, path)
);

CREATE INDEX bulk_items_outcome_idx ON bulk_items (bulk_id, outcome);
