-- The operations API lists jobs by reason code newest first (GET /api/jobs?reason=...); state and time already have
-- their indexes. file_format(path) is a job's format for GET /api/stats: its file's extension, lower case ASCII of
-- at most 16 characters, '' without one (shared/domain/job_queries.py file_format says the same in Python).

CREATE INDEX jobs_reason_created_idx ON jobs (reason_code, created_at DESC, job_id DESC);

CREATE FUNCTION file_format(path TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN COALESCE(lower(substring(path FROM '\.([A-Za-z0-9]{1,16})$')), '');
