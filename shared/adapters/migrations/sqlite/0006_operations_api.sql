-- The operations API lists jobs by reason code newest first (GET /api/jobs?reason=...); state and time already have
-- their indexes. Counting by format uses file_format(path), a function each connection registers (SQLite has no
-- stored functions).

CREATE INDEX jobs_reason_created_idx ON jobs (reason_code, created_at DESC, job_id DESC);
