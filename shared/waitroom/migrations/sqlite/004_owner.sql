-- The caller who started the process (the JWT's subject): only they, or an admin, may read or cancel it.
ALTER TABLE process_store ADD COLUMN owner TEXT NULL;
CREATE INDEX IX_ProcessStore_Owner_StartedAt ON process_store (owner, started_at, correlation_id);
