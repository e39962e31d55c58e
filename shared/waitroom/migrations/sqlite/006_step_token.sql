-- Which run of a step a history row records: a token the worker chose before its first attempt, so
-- that an insert retried after a lost connection finds its own row instead of adding a second one.
-- No unique index: a process has few steps, found through IX_ProcessEvent_CorrelationId,
-- and the rows recorded before this migration have no token.
ALTER TABLE process_event ADD COLUMN step_token TEXT NULL;
