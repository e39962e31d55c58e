-- The durable wait mode's waiters: each start or join that suspended on a Lambda durable execution
-- callback records the callback's id here, and the one finish of the process takes every row of its
-- id (DELETE ... RETURNING: each callback is sent once, by the finish that took it). No foreign key:
-- a discarded row's waiters are taken after the row is gone. A surrogate key, since a callback id
-- may be 1024 characters long.
CREATE TABLE waiter_callback (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  correlation_id TEXT NOT NULL,
  callback_id    TEXT NOT NULL,
  created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE INDEX ix_waiter_callback_correlation_id ON waiter_callback(correlation_id);
