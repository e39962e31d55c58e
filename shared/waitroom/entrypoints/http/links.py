"""The ``links`` of a process answer: the URLs a caller may follow from it.

``status`` (GET), ``history`` (GET, the steps it ran) and ``cancel`` (POST, with the correlation id
in the body). They are absolute when the request came through a gateway that says where it was
sent (API Gateway sets ``X-Forwarded-Proto`` and passes ``Host``), else paths. A request through a
Function URL gets paths: its host is the start or status function's own, which serves only its
routes, so the caller resolves them against the URL it uses for each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: A host name or address with an optional port: nothing a forged header could smuggle into a URL.
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def base_url(headers: Mapping[str, str]) -> str | None:
    """``https://api.example.com`` from the headers a gateway adds, or None if it said nothing usable."""
    lowered = {name.lower(): value for name, value in headers.items()}
    proto = lowered.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    host = lowered.get("host", "").strip()
    if proto not in {"http", "https"} or not _HOST.match(host):
        return None
    return f"{proto}://{host}"


def status_path(correlation_id: str) -> str:
    """Correlation ids are made of URL-safe characters only (``schemas.CORRELATION_ID_PATTERN``)."""
    return f"/api/process/status/{correlation_id}"


def process_links(correlation_id: str, base: str | None) -> dict[str, str]:
    prefix = base or ""
    status = prefix + status_path(correlation_id)
    return {"status": status, "history": f"{status}?history=true", "cancel": f"{prefix}/api/process/cancel"}
