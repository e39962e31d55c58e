"""The part of an OpenAPI document that serves some routes: their path items and methods, with every
component they reference, copied unchanged (fork_openapi.py and camunda8_openapi.py cut with it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def subset(
    full: Mapping[str, Any],
    routes: Mapping[str, list[str]],
    *,
    whole_sections: Iterable[str] = (),
    dropped_keys: Iterable[str] = (),
) -> dict[str, Any]:
    """The path items and methods in ``routes`` with every component they reference, the component
    sections in ``whole_sections`` kept whole, and the document's other top-level keys but
    ``dropped_keys``.

    A reference into another operation (``#/paths/~1clock/put/responses/400``, as a bundled document
    shares one response among operations) keeps just that part of it, at the same place, so the
    reference still resolves."""
    paths = {path: {method: full["paths"][path][method] for method in methods} for path, methods in routes.items()}
    components = full["components"]
    kept: set[tuple[str, str]] = set()
    pending = _references(paths)
    while pending:
        reference = pending.pop()
        if reference not in kept:
            kept.add(reference)
            section, name = reference
            if section == "paths":
                parts = [part.replace("~1", "/").replace("~0", "~") for part in name.split("/")]
                found: Any = full["paths"]
                within = paths
                for part in parts[:-1]:
                    found = found[part]
                    within = within.setdefault(part, {})
                within.setdefault(parts[-1], found[parts[-1]])
                pending |= _references(found[parts[-1]])
            else:
                pending |= _references(components[section][name])
    cut: dict[str, dict[str, Any]] = {}
    for section, name in sorted(kept - {reference for reference in kept if reference[0] == "paths"}):
        cut.setdefault(section, {})[name] = components[section][name]
    for section in whole_sections:
        cut[section] = components[section]
    left_out = {"paths", "components", *dropped_keys}
    return {
        **{key: value for key, value in full.items() if key not in left_out},
        "paths": paths,
        "components": {section: cut[section] for section in sorted(cut)},
    }


def _references(node: Any) -> set[tuple[str, str]]:
    """The parts ``node`` references: (section, name) of each ``#/components/<section>/<name>``,
    ("paths", rest) of each ``#/paths/<rest>``."""
    if isinstance(node, dict):
        found: set[tuple[str, str]] = set()
        if isinstance(node.get("$ref"), str):
            if node["$ref"].startswith("#/paths/"):
                found.add(("paths", node["$ref"].removeprefix("#/paths/")))
            else:
                _, _, section, name = node["$ref"].split("/", 3)
                found.add((section, name))
        for value in node.values():
            found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node)) if node else set()
    return set()
