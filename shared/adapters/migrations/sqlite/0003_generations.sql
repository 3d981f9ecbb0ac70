-- Deletes (DESIGN.md §3): a delete forgets the document's committed version and opens its next generation; a job
-- commits only into the generation it was created in, so a job still running when its document was deleted can
-- never bring it back. Jobs now say what they do: ingest a version, or delete a document.

ALTER TABLE documents ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'ingest';
