-- The per-step history of each process (the seed's event log), deleted with its process.
CREATE TABLE process_event (
  event_id       INTEGER PRIMARY KEY AUTOINCREMENT,
  correlation_id TEXT NOT NULL REFERENCES process_store (correlation_id) ON DELETE CASCADE,
  topic          TEXT NOT NULL,
  activity_id    TEXT NULL,
  outcome        TEXT NOT NULL,
  duration_ms    INTEGER NOT NULL,
  error_json     TEXT NULL,
  occurred_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE INDEX IX_ProcessEvent_CorrelationId ON process_event (correlation_id, event_id);
CREATE INDEX IX_ProcessStore_Status_StartedAt ON process_store (status, started_at, correlation_id);
CREATE INDEX IX_ProcessStore_ProcessKey_StartedAt ON process_store (process_key, started_at, correlation_id);
