-- The seed's table in SQLite's types. Time is ISO-8601 text in UTC with milliseconds.
CREATE TABLE process_store (
  correlation_id TEXT NOT NULL PRIMARY KEY,
  status         TEXT NOT NULL,
  payload_json   TEXT NULL,
  error_json     TEXT NULL,
  started_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE INDEX IX_ProcessStore_Status ON process_store(status);
CREATE INDEX IX_ProcessStore_UpdatedAt ON process_store(updated_at);
