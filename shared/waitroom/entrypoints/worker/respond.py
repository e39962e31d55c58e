"""The built-in response step: a service task that ends its process's wait with the process's result.

A BPMN process ends the wait of its client with an external service task of topic ``RESPONSE_TOPIC``
(``waitroom-respond`` by default), which Waitroom's worker serves. Its result is the variables the
task receives: those of its input mappings (``camunda:inputOutput``) when it has any, else all the
instance's variables. The worker takes the task with the variables of its own scope
(:attr:`~waitroom.service.ports.TopicRequest.local_variables`; on Camunda 7, ``localVariables``: the
variables of the task's own execution, which input mappings give an execution of its own, and which
is the instance's execution otherwise), records the step, ends the row DONE with them, then completes
the task.
"""

from __future__ import annotations

from waitroom.entrypoints.worker.tasks import ProcessOutcome, Task, Topic, WorkerResources
from waitroom.settings import Settings


def respond(task: Task, _: WorkerResources) -> ProcessOutcome:
    return ProcessOutcome(data=dict(task.variables))


def response_topic(settings: Settings) -> Topic:
    return Topic(settings.response_topic, respond, local_variables=True)
