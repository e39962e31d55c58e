-- SQLite cannot add a CHECK constraint to an existing table; the store is the only writer.
ALTER TABLE process_store ADD COLUMN process_key TEXT NULL;
ALTER TABLE process_store ADD COLUMN request_hash TEXT NULL;
ALTER TABLE process_store ADD COLUMN camunda_instance_id TEXT NULL;
ALTER TABLE process_store ADD COLUMN completed_at TEXT NULL;
CREATE INDEX IX_ProcessStore_StartedAt ON process_store(started_at, correlation_id);
