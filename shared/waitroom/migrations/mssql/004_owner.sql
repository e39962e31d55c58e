-- The caller who started the process (the JWT's subject): only they, or an admin, may read or cancel it.
ALTER TABLE dbo.process_store ADD owner VARCHAR(255) NULL;
GO
CREATE INDEX IX_ProcessStore_Owner_StartedAt ON dbo.process_store (owner, started_at, correlation_id);
