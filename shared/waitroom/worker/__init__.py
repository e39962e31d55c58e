"""The Camunda external-task worker and the handlers of the processes Waitroom ships."""

from waitroom.worker import onboard_user
from waitroom.worker.tasks import TopicRegistry

#: Every topic the worker serves, declared in this one place.
REGISTRY = TopicRegistry.of([*onboard_user.TOPICS])
