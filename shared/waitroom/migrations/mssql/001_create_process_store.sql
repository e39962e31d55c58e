CREATE TABLE dbo.process_store (
  correlation_id VARCHAR(64) NOT NULL PRIMARY KEY,
  status         VARCHAR(16) NOT NULL,   -- PENDING | DONE | ERROR (| CANCELLED, added later)
  payload_json   NVARCHAR(MAX) NULL,
  error_json     NVARCHAR(MAX) NULL,
  started_at     DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME(),
  updated_at     DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME());
CREATE INDEX IX_ProcessStore_Status ON dbo.process_store(status);
CREATE INDEX IX_ProcessStore_UpdatedAt ON dbo.process_store(updated_at);
