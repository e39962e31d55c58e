-- Which run of a step a history row records: a token the worker chose before its first attempt, so
-- that an insert retried after a lost connection finds its own row instead of adding a second one.
-- No unique index: a process has few steps, found through IX_ProcessEvent_CorrelationId,
-- the rows recorded before this migration have no token, and SQL Server's unique index would allow
-- only one of those NULLs.
ALTER TABLE dbo.process_event ADD step_token CHAR(32) NULL;
