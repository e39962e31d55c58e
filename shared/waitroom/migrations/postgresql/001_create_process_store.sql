-- The seed's table in PostgreSQL's types. Payloads stay TEXT (not jsonb) to round-trip byte for byte.
CREATE TABLE process_store (
  correlation_id VARCHAR(64) NOT NULL PRIMARY KEY,
  status         VARCHAR(16) NOT NULL,
  payload_json   TEXT NULL,
  error_json     TEXT NULL,
  started_at     TIMESTAMPTZ(3) NOT NULL DEFAULT clock_timestamp(),
  updated_at     TIMESTAMPTZ(3) NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IX_ProcessStore_Status ON process_store(status);
CREATE INDEX IX_ProcessStore_UpdatedAt ON process_store(updated_at);
