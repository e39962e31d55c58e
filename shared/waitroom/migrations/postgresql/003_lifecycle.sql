-- The per-step history of each process (the seed's event log), deleted with its process.
CREATE TABLE process_event (
  event_id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  correlation_id VARCHAR(64) NOT NULL REFERENCES process_store (correlation_id) ON DELETE CASCADE,
  topic          VARCHAR(255) NOT NULL,
  activity_id    VARCHAR(255) NULL,
  outcome        VARCHAR(16) NOT NULL,
  duration_ms    INTEGER NOT NULL,
  error_json     TEXT NULL,
  occurred_at    TIMESTAMPTZ(3) NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IX_ProcessEvent_CorrelationId ON process_event (correlation_id, event_id);
CREATE INDEX IX_ProcessStore_Status_StartedAt ON process_store (status, started_at, correlation_id);
CREATE INDEX IX_ProcessStore_ProcessKey_StartedAt ON process_store (process_key, started_at, correlation_id);
