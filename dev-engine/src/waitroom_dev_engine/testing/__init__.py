"""Helpers for tests of workers and clients against the engine (the ``testing`` extra).

``camunda7`` and ``camunda8`` check requests and answers against the engines' official OpenAPI
documents (``reference/``); ``bpmn`` writes Camunda 8 processes for tests; ``ecosystem_worker`` runs
``camunda-external-task-client-python3`` in a thread. The engine itself never imports them.
"""
