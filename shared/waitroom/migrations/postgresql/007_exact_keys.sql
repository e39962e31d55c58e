-- Ids, process keys, owners and tokens compare and sort byte for byte (collation "C"), as SQL Server's
-- binary collation and SQLite's BINARY do, whatever the database's default collation; a keyset page
-- of the list then follows the same order on every backend. PostgreSQL rebuilds the indexes on them.
ALTER TABLE process_event ALTER COLUMN correlation_id TYPE VARCHAR(64) COLLATE "C",
  ALTER COLUMN step_token TYPE CHAR(32) COLLATE "C";
ALTER TABLE process_store ALTER COLUMN correlation_id TYPE VARCHAR(64) COLLATE "C",
  ALTER COLUMN process_key TYPE VARCHAR(255) COLLATE "C",
  ALTER COLUMN owner TYPE VARCHAR(255) COLLATE "C",
  ALTER COLUMN request_hash TYPE CHAR(64) COLLATE "C",
  ALTER COLUMN save_token TYPE CHAR(32) COLLATE "C";
