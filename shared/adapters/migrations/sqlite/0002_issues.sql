-- Part-of-file problems (a ragged row, a bad JSON line, a name that disagrees with the content): warnings on a job
-- that still succeeds. Keyed on (job, locator, reason code) so a re-parse after a crash records nothing twice;
-- jobs.issues counts the rows, moved in the same transaction as the inserts.

ALTER TABLE jobs ADD COLUMN issues INTEGER NOT NULL DEFAULT 0;

CREATE TABLE job_issues (
    job_id      TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    locator     TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    ordinal     INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (job_id, locator, reason_code)
);

CREATE INDEX job_issues_order_idx ON job_issues (job_id, ordinal);
