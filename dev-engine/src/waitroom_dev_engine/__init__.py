"""A Camunda 7 REST-compatible development engine that executes BPMN with SpiffWorkflow.

Start it with ``python -m waitroom_dev_engine --port 8080 --db engine.sqlite --bpmn-dir bpmn/`` or, in
tests, ``EngineServer(db_path).start()``, which returns the ``.../engine-rest`` base URL.
"""

from waitroom_dev_engine.engine import Engine
from waitroom_dev_engine.server import EngineServer

__all__ = ["Engine", "EngineServer"]
