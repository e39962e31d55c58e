"""The store's state machine under random sequences of operations (hypothesis, stateful), on SQLite:
a row is created PENDING, finishes once, and a finished row never changes again."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from waitroom.domain import NewProcess, ProcessStatus, dump_json
from waitroom.settings import Settings
from waitroom.store import SqlStore, dialect_for
from waitroom.store.migrate import migrate

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
        #: correlation id → (status, payload_json, error_json), what the store must hold
        self.model: dict[str, tuple[ProcessStatus, str | None, str | None]] = {}

    @rule(correlation_id=IDS)
    def save(self, correlation_id: str) -> None:
        _, created = self.store.save(NewProcess(correlation_id, "k", "0" * 64))
        assert created == (correlation_id not in self.model)
        self.model.setdefault(correlation_id, (ProcessStatus.PENDING, None, None))

    @rule(correlation_id=IDS, payload=PAYLOADS)
    def complete(self, correlation_id: str, payload: object) -> None:
        encoded = dump_json(payload)
        self._finish(correlation_id, self.store.complete(correlation_id, encoded), (ProcessStatus.DONE, encoded, None))

    @rule(correlation_id=IDS, message=st.text(max_size=20))
    def fail(self, correlation_id: str, message: str) -> None:
        error = dump_json({"message": message})
        self._finish(correlation_id, self.store.fail(correlation_id, error), (ProcessStatus.ERROR, None, error))

    @rule(correlation_id=IDS)
    def cancel(self, correlation_id: str) -> None:
        error = dump_json({"code": "CANCELLED"})
        self._finish(correlation_id, self.store.cancel(correlation_id, error), (ProcessStatus.CANCELLED, None, error))

    @rule(correlation_id=IDS)
    def remove(self, correlation_id: str) -> None:
        assert self.store.remove(correlation_id) == (correlation_id in self.model)
        self.model.pop(correlation_id, None)

    def _finish(
        self, correlation_id: str, finished: object, outcome: tuple[ProcessStatus, str | None, str | None]
    ) -> None:
        pending = self.model.get(correlation_id, (None,))[0] is ProcessStatus.PENDING
        assert (finished is not None) == pending, "exactly the PENDING rows finish"
        if pending:
            self.model[correlation_id] = outcome

    @invariant()
    def the_store_holds_what_the_model_says(self) -> None:
        for correlation_id in ["a", "b", "c", "d"]:
            record = self.store.get(correlation_id)
            expected = self.model.get(correlation_id)
            if expected is None:
                assert record is None
                continue
            assert record is not None
            assert (record.status, record.payload_json, record.error_json) == expected
            assert (record.completed_at is None) == (record.status is ProcessStatus.PENDING)
        assert self.store.pending_count() == sum(
            1 for status, _, _ in self.model.values() if status is ProcessStatus.PENDING
        )

    def teardown(self) -> None:
        self.store.close()
        self.directory.cleanup()


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, derandomize=True, deadline=None)
test_the_store_state_machine = StoreMachine.TestCase
