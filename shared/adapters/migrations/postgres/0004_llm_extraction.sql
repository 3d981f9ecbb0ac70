-- The LLM extractor (shared/extraction/llm.py). token_counters: the token budget every worker shares, one row per
-- budget window (a deployment's minute, a job); reserved with a conditional UPDATE so concurrent workers never
-- overrun it. A minute's row expires and is dropped once past. extraction_batches: per extract batch, which
-- extractor produced it and what it cost, written once (the first record is what went downstream).

CREATE TABLE token_counters (
    key         TEXT PRIMARY KEY,
    used        BIGINT NOT NULL DEFAULT 0,
    expires_at  TIMESTAMPTZ
);

CREATE INDEX token_counters_expiry_idx ON token_counters (expires_at);

CREATE TABLE extraction_batches (
    job_id          TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    batch           INTEGER NOT NULL,
    extractor       TEXT NOT NULL,
    chunks          INTEGER NOT NULL DEFAULT 0,
    model_chunks    INTEGER NOT NULL DEFAULT 0,
    cached_chunks   INTEGER NOT NULL DEFAULT 0,
    fallback_chunks INTEGER NOT NULL DEFAULT 0,
    requests        INTEGER NOT NULL DEFAULT 0,
    input_tokens    BIGINT NOT NULL DEFAULT 0,
    output_tokens   BIGINT NOT NULL DEFAULT 0,
    dropped         INTEGER NOT NULL DEFAULT 0,
    fallback_reason TEXT,
    recorded_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, batch)
);
