"""The store's state machine under random sequences of operations (hypothesis, stateful), on SQLite:
a row is created PENDING, finishes once, and a finished row never changes again."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from waitroom.adapters.store import SqlStore, dialect_for
from waitroom.adapters.store.migrate import migrate
from waitroom.domain.process import NewProcess, Outcome, ProcessStatus, dump_json
from waitroom.settings import Settings

IDS = st.sampled_from(["a", "b", "c", "d"])
PAYLOADS = st.none() | st.integers() | st.text(max_size=20) | st.dictionaries(st.text(max_size=5), st.integers())


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(self.directory.name) / 'machine.sqlite3'}"
        dialect = dialect_for(url, Settings(database_url=url))
        migrate(dialect)
        self.store = SqlStore(dialect)
        #: correlation id → the outcome the store must hold (PENDING: none yet)
        self.model: dict[str, Outcome | None] = {}

    @rule(correlation_id=IDS)
    def save(self, correlation_id: str) -> None:
        _, created = self.store.save(NewProcess(correlation_id, "k", "0" * 64))
        assert created == (correlation_id not in self.model)
        self.model.setdefault(correlation_id, None)

    @rule(correlation_id=IDS, payload=PAYLOADS)
    def complete(self, correlation_id: str, payload: object) -> None:
        self._finish(correlation_id, Outcome.done(payload))

    @rule(correlation_id=IDS, message=st.text(max_size=20))
    def fail(self, correlation_id: str, message: str) -> None:
        self._finish(correlation_id, Outcome.failed({"message": message}))

    @rule(correlation_id=IDS)
    def cancel(self, correlation_id: str) -> None:
        self._finish(correlation_id, Outcome.cancelled("client gave up"))

    @rule(correlation_id=IDS)
    def remove(self, correlation_id: str) -> None:
        assert self.store.remove(correlation_id) == (correlation_id in self.model)
        self.model.pop(correlation_id, None)

    def _finish(self, correlation_id: str, outcome: Outcome) -> None:
        finished = self.store.finish(correlation_id, outcome)
        pending = correlation_id in self.model and self.model[correlation_id] is None
        assert (finished is not None) == pending, "exactly the PENDING rows finish"
        if pending:
            self.model[correlation_id] = outcome

    @invariant()
    def the_store_holds_what_the_model_says(self) -> None:
        for correlation_id in ["a", "b", "c", "d"]:
            record = self.store.get(correlation_id)
            if correlation_id not in self.model:
                assert record is None
                continue
            assert record is not None
            expected = self.model[correlation_id] or Outcome(ProcessStatus.DONE)
            held = (record.status, dump_json(record.payload), dump_json(record.error))
            if self.model[correlation_id] is None:
                assert held[0] is ProcessStatus.PENDING
            else:
                # Compared as JSON text: 1, 1.0 and true are three different results.
                assert held == (expected.status, dump_json(expected.payload), dump_json(expected.error))
            assert (record.completed_at is None) == (record.status is ProcessStatus.PENDING)
        assert self.store.pending_count() == sum(1 for outcome in self.model.values() if outcome is None)

    def teardown(self) -> None:
        self.store.close()
        self.directory.cleanup()


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, derandomize=True, deadline=None)
test_the_store_state_machine = StoreMachine.TestCase
