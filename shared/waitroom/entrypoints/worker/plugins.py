"""The topics the worker serves: the built-in response step, and the handlers of the teams' own packages.

A team's package serves its process's steps from a module that exposes ``TOPICS``, a sequence of
:class:`~waitroom.entrypoints.worker.tasks.Topic` (``examples/onboard-user/onboard_user/handlers.py``
is one). The worker finds these modules at its cold start in two ways:

* ``WORKER_HANDLER_MODULES``: module names separated by commas;
* the entry point group ``waitroom.handlers`` of the installed distributions, each naming a module
  (``team.handlers``) or its topics themselves (``team.handlers:TOPICS``).

A module named both ways is served once. A topic that two of them claim (or that one claims
beside the response step's ``RESPONSE_TOPIC``) fails the cold start, naming both: which of two
handlers runs a step must never depend on the order things were loaded in.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from waitroom.domain.errors import ConfigurationError
from waitroom.entrypoints.worker.respond import response_topic
from waitroom.entrypoints.worker.tasks import Topic, TopicRegistry
from waitroom.settings import Settings

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "waitroom.handlers"


@dataclass(frozen=True)
class HandlerSource:
    """Where topics come from, as an error names it."""

    label: str
    topics: tuple[Topic, ...]


def load_registry(settings: Settings) -> TopicRegistry:
    """Every topic this worker serves; raises :class:`ConfigurationError` for a module that cannot be
    loaded, one without ``TOPICS``, or a topic claimed twice."""
    claimed: dict[str, str] = {}
    topics: list[Topic] = []
    sources = list(handler_sources(settings))
    for source in sources:
        for topic in source.topics:
            if topic.name in claimed:
                raise ConfigurationError(
                    f"topic {topic.name!r} is claimed by two handlers: {claimed[topic.name]} and {source.label}; "
                    "each topic must have one handler"
                )
            claimed[topic.name] = source.label
            topics.append(topic)
    logger.info("worker topics loaded", extra={"topics": claimed})
    return TopicRegistry.of(topics)


def handler_sources(settings: Settings) -> Iterator[HandlerSource]:
    yield HandlerSource("the built-in response step (RESPONSE_TOPIC)", (response_topic(settings),))
    loaded: set[str] = set()
    for name in settings.handler_modules():
        module = _import(name, f"WORKER_HANDLER_MODULES names {name!r}")
        loaded.add(module.__name__)
        yield HandlerSource(f"module {name} (WORKER_HANDLER_MODULES)", _topics_of(module, f"module {name}"))
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda found: found.name):
        label = f"entry point {entry_point.name} = {entry_point.value} (group {ENTRY_POINT_GROUP})"
        try:
            target = entry_point.load()
        except Exception as exc:
            raise ConfigurationError(f"{label} cannot be loaded: {type(exc).__name__}: {exc}") from exc
        if isinstance(target, ModuleType):
            if target.__name__ in loaded:
                continue
            loaded.add(target.__name__)
        yield HandlerSource(label, _topics_of(target, label))


def _import(name: str, context: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise ConfigurationError(f"{context}, which cannot be imported: {type(exc).__name__}: {exc}") from exc


def _topics_of(target: Any, label: str) -> tuple[Topic, ...]:
    """The topics of a module (its ``TOPICS``) or the topics an entry point names."""
    found = getattr(target, "TOPICS", None) if isinstance(target, ModuleType) else target
    if found is None:
        raise ConfigurationError(f"{label} has no TOPICS: a handler module exposes TOPICS, a sequence of Topic")
    if not isinstance(found, Iterable) or isinstance(found, (str, bytes)):
        raise ConfigurationError(f"{label}: TOPICS is not a sequence of Topic")
    topics = tuple(found)
    strangers = [item for item in topics if not isinstance(item, Topic)]
    if strangers:
        raise ConfigurationError(f"{label}: TOPICS holds {type(strangers[0]).__name__}, not Topic")
    return topics
