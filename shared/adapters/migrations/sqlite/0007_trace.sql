-- GET /api/trace/{tracking_id}: each batch marker also keeps the message it arrived in and how long the stage's
-- handler ran (both NULL for markers recorded before; parse has no message). Jobs are found by their tracking id
-- (a W3C trace id, or the id a client put in the blob's metadata), newest first.

ALTER TABLE batch_markers ADD COLUMN message_id TEXT;
ALTER TABLE batch_markers ADD COLUMN duration_ms REAL;

CREATE INDEX jobs_tracking_created_idx ON jobs (tracking_id, created_at DESC, job_id DESC);
