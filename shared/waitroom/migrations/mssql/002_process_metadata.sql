-- What the features need beyond the seed's table: the process key and a fingerprint of the start
-- request (idempotent start), the Camunda instance, and when the process finished.
ALTER TABLE dbo.process_store ADD
  process_key         VARCHAR(255) NULL,
  request_hash        CHAR(64) NULL,
  camunda_instance_id VARCHAR(64) NULL,
  completed_at        DATETIME2(3) NULL;
GO
ALTER TABLE dbo.process_store ADD CONSTRAINT CK_ProcessStore_Status
  CHECK (status IN ('PENDING', 'DONE', 'ERROR', 'CANCELLED'));
-- The list route reads the newest processes first, a page at a time.
CREATE INDEX IX_ProcessStore_StartedAt ON dbo.process_store(started_at, correlation_id);
