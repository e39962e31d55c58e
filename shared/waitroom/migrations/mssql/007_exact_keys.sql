-- Ids, process keys, owners and tokens compare byte for byte, as PostgreSQL's and SQLite's do: under
-- the database's default collation (SQL_Latin1_General_CP1_CI_AS, say) `Order-1` and `order-1` are
-- one process, and the list of owner `alice` shows the processes of `Alice`. The owner (a token's
-- subject) is any Unicode text, hence NVARCHAR. A column's collation cannot change while an index, a
-- foreign key or statistics refer to it: they are dropped here and made again below. Every index of
-- the table is rebuilt: apply it in a maintenance window (docs/DEPLOYING.md, section 5).
ALTER TABLE dbo.process_event DROP CONSTRAINT FK_ProcessEvent_ProcessStore;
DROP INDEX IX_ProcessEvent_CorrelationId ON dbo.process_event;
DROP INDEX IX_ProcessStore_Status ON dbo.process_store;
DROP INDEX IX_ProcessStore_UpdatedAt ON dbo.process_store;
DROP INDEX IX_ProcessStore_StartedAt ON dbo.process_store;
DROP INDEX IX_ProcessStore_Status_StartedAt ON dbo.process_store;
DROP INDEX IX_ProcessStore_ProcessKey_StartedAt ON dbo.process_store;
DROP INDEX IX_ProcessStore_Owner_StartedAt ON dbo.process_store;
GO
-- The seed's primary key has a name the server chose; statistics the server made have names of its own.
DECLARE @drop NVARCHAR(MAX) = N'';
SELECT @drop = @drop + N'ALTER TABLE dbo.process_store DROP CONSTRAINT ' + QUOTENAME(name) + N';'
FROM sys.key_constraints WHERE parent_object_id = OBJECT_ID(N'dbo.process_store') AND type = 'PK';
SELECT @drop = @drop + N'DROP STATISTICS ' + QUOTENAME(OBJECT_SCHEMA_NAME(s.object_id)) + N'.'
  + QUOTENAME(OBJECT_NAME(s.object_id)) + N'.' + QUOTENAME(s.name) + N';'
FROM sys.stats AS s
WHERE s.object_id IN (OBJECT_ID(N'dbo.process_store'), OBJECT_ID(N'dbo.process_event'))
  AND (s.auto_created = 1 OR s.user_created = 1);
EXEC sp_executesql @drop;
GO
ALTER TABLE dbo.process_store ALTER COLUMN correlation_id VARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL;
ALTER TABLE dbo.process_store ALTER COLUMN process_key VARCHAR(255) COLLATE Latin1_General_100_BIN2 NULL;
ALTER TABLE dbo.process_store ALTER COLUMN owner NVARCHAR(255) COLLATE Latin1_General_100_BIN2 NULL;
ALTER TABLE dbo.process_store ALTER COLUMN request_hash CHAR(64) COLLATE Latin1_General_100_BIN2 NULL;
ALTER TABLE dbo.process_store ALTER COLUMN save_token CHAR(32) COLLATE Latin1_General_100_BIN2 NULL;
ALTER TABLE dbo.process_event ALTER COLUMN correlation_id VARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL;
ALTER TABLE dbo.process_event ALTER COLUMN step_token CHAR(32) COLLATE Latin1_General_100_BIN2 NULL;
GO
ALTER TABLE dbo.process_store ADD CONSTRAINT PK_ProcessStore PRIMARY KEY CLUSTERED (correlation_id);
CREATE INDEX IX_ProcessStore_Status ON dbo.process_store (status);
CREATE INDEX IX_ProcessStore_UpdatedAt ON dbo.process_store (updated_at);
CREATE INDEX IX_ProcessStore_StartedAt ON dbo.process_store (started_at, correlation_id);
CREATE INDEX IX_ProcessStore_Status_StartedAt ON dbo.process_store (status, started_at, correlation_id);
CREATE INDEX IX_ProcessStore_ProcessKey_StartedAt ON dbo.process_store (process_key, started_at, correlation_id);
CREATE INDEX IX_ProcessStore_Owner_StartedAt ON dbo.process_store (owner, started_at, correlation_id);
ALTER TABLE dbo.process_event ADD CONSTRAINT FK_ProcessEvent_ProcessStore
  FOREIGN KEY (correlation_id) REFERENCES dbo.process_store (correlation_id) ON DELETE CASCADE;
CREATE INDEX IX_ProcessEvent_CorrelationId ON dbo.process_event (correlation_id, event_id);
