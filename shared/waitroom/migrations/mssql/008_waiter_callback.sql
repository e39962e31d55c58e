-- The durable wait mode's waiters: each start or join that suspended on a Lambda durable execution
-- callback records the callback's id here, and the one finish of the process takes every row of its
-- id (DELETE ... OUTPUT: each callback is sent once, by the finish that took it). No foreign key:
-- a discarded row's waiters are taken after the row is gone. A surrogate key, since a callback id
-- may be 1024 characters long and an index key at most 900 bytes.
CREATE TABLE dbo.waiter_callback (
  id             BIGINT IDENTITY(1, 1) NOT NULL PRIMARY KEY,
  correlation_id VARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL,
  callback_id    VARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
  created_at     DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME());
CREATE INDEX IX_WaiterCallback_CorrelationId ON dbo.waiter_callback(correlation_id);
