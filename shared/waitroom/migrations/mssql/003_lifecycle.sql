-- The per-step history of each process (the seed's event log), deleted with its process.
CREATE TABLE dbo.process_event (
  event_id       BIGINT IDENTITY(1, 1) NOT NULL PRIMARY KEY,
  correlation_id VARCHAR(64) NOT NULL
    CONSTRAINT FK_ProcessEvent_ProcessStore REFERENCES dbo.process_store (correlation_id) ON DELETE CASCADE,
  topic          VARCHAR(255) NOT NULL,
  activity_id    VARCHAR(255) NULL,
  outcome        VARCHAR(16) NOT NULL,   -- COMPLETED | FAILED | BPMN_ERROR
  duration_ms    INT NOT NULL,
  error_json     NVARCHAR(MAX) NULL,
  occurred_at    DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME());
CREATE INDEX IX_ProcessEvent_CorrelationId ON dbo.process_event (correlation_id, event_id);
-- The list route filters by status or process key and pages newest first, by key, not by offset.
CREATE INDEX IX_ProcessStore_Status_StartedAt ON dbo.process_store (status, started_at, correlation_id);
CREATE INDEX IX_ProcessStore_ProcessKey_StartedAt ON dbo.process_store (process_key, started_at, correlation_id);
