"""Camunda 8 (the Orchestration Cluster REST API, 8.8) behind the engine ports: :mod:`.engine` the
service's :class:`~waitroom.service.ports.Engine`, :mod:`.task_queue` the worker's
:class:`~waitroom.service.ports.TaskQueue`, both on :mod:`.client`. This package imports none of its
modules, so that an API function loads the engine's only."""
