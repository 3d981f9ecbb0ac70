-- Job store schema (DESIGN.md §4). One job per document version; counters live in their own rows so that
-- concurrent sinks increment different rows; markers make record_batch idempotent.
-- SQLite flavour: timestamps are ISO 8601 UTC text with microseconds, so they sort as they compare.

CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,
    document_id      TEXT NOT NULL,
    path             TEXT NOT NULL,
    version          TEXT NOT NULL,
    base_version     TEXT,
    state            TEXT NOT NULL,
    reason_code      TEXT,
    last_error       TEXT,
    tracking_id      TEXT NOT NULL,
    size             INTEGER NOT NULL DEFAULT 0,
    batches_expected INTEGER,
    extractor        TEXT,
    total_chunks     INTEGER NOT NULL DEFAULT 0,
    total_entities   INTEGER NOT NULL DEFAULT 0,
    total_relations  INTEGER NOT NULL DEFAULT 0,
    total_bytes      INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE INDEX jobs_created_idx ON jobs (created_at DESC, job_id DESC);
CREATE INDEX jobs_state_created_idx ON jobs (state, created_at DESC, job_id DESC);
CREATE INDEX jobs_document_idx ON jobs (document_id);

CREATE TABLE job_stages (
    job_id        TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    stage         TEXT NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, stage)
);

CREATE TABLE batch_markers (
    job_id      TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    stage       TEXT NOT NULL,
    batch       INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    reason_code TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (job_id, stage, batch)
);

CREATE TABLE documents (
    document_id       TEXT PRIMARY KEY,
    path              TEXT NOT NULL,
    committed_version TEXT,
    committed_at      TEXT,
    job_id            TEXT
);
