-- Who inserted the row: a token of the start that saved it, so that a start whose insert is retried
-- after a lost connection recognises its own row (and starts the process) instead of taking it for
-- another request's.
ALTER TABLE process_store ADD COLUMN save_token TEXT NULL;
