ALTER TABLE process_store
  ADD COLUMN process_key         VARCHAR(255) NULL,
  ADD COLUMN request_hash        CHAR(64) NULL,
  ADD COLUMN camunda_instance_id VARCHAR(64) NULL,
  ADD COLUMN completed_at        TIMESTAMPTZ(3) NULL,
  ADD CONSTRAINT CK_ProcessStore_Status CHECK (status IN ('PENDING', 'DONE', 'ERROR', 'CANCELLED'));
CREATE INDEX IX_ProcessStore_StartedAt ON process_store(started_at, correlation_id);
