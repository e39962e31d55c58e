"""A Camunda 7 REST-compatible development engine that executes BPMN with SpiffWorkflow.

Start it with ``python -m devstack.engine --port 8080 --db engine.sqlite --bpmn-dir bpmn/`` or, in
tests, ``EngineServer(db_path).start()``, which returns the ``.../engine-rest`` base URL.
"""

from devstack.engine.engine import Engine
from devstack.engine.server import EngineServer

__all__ = ["Engine", "EngineServer"]
