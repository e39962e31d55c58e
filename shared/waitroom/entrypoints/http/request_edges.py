"""What a request body must be before anything parses it, judged in the handler itself.

API Gateway passes bodies through as clients send them: text as text, anything it takes for binary
as base64, whatever the ``Content-Type`` says. So the function refuses, with a 4xx that names the
field, what its parser would otherwise choke on (a 5xx) or silently change: a media type other than
JSON, bytes that are not UTF-8 (refused, never replaced), nesting deep enough to exhaust the parser,
numbers that do not survive the trip (an integer of thousands of digits, a float beyond the double
range or a non-zero one below it), a key repeated in its object, and text with an unpaired UTF-16
surrogate. Each refusal names the field as the caller sent it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from waitroom.domain.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType, WaitroomError

#: JSON nested deeper than this is refused before it is parsed (the parser recurses per level).
MAX_JSON_DEPTH = 32
#: Longest integer a body may carry, in digits. Python refuses to parse more than 4300 (its
#: ``sys.get_int_max_str_digits``), and no value Waitroom keeps needs a fraction of that.
MAX_INTEGER_DIGITS = 1000
JSON_MEDIA_TYPE = "application/json"
#: Methods whose body a route reads.
METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether JSON text nests objects and arrays deeper than ``limit``, found without parsing it."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def media_type_refusal(content_type: str | None) -> UnsupportedMediaType | None:
    """None when the body may be read as JSON: no ``Content-Type`` (read as JSON, as Powertools
    does), or ``application/json`` in any letter case, with no charset but UTF-8 (RFC 8259 §8.1)."""
    if content_type is None or not content_type.strip():
        return None
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != JSON_MEDIA_TYPE:
        return UnsupportedMediaType(
            f"the body must be {JSON_MEDIA_TYPE}, not {media_type[:100]!r}",
            details=[{"field": "Content-Type", "reason": f"only {JSON_MEDIA_TYPE} is accepted"}],
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return UnsupportedMediaType(
                "JSON is UTF-8; the body declares another charset",
                details=[{"field": "Content-Type", "reason": "charset must be utf-8"}],
            )
    return None


@dataclass(frozen=True)
class _Refused:
    """A value the parser met that Waitroom refuses; put in its place so that the place can be named.
    ``key`` is set when the fault is one key of the object found there (a duplicated key)."""

    reason: str
    key: str | None = None


def _integer(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        return _Refused(f"an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _float(text: str) -> float | _Refused:
    """The double a number denotes, unless it does not survive the trip: beyond the double range it
    would be infinity, and a non-zero number below it would be stored as 0."""
    value = float(text)
    if math.isinf(value):
        return _Refused("a number beyond the range of a double")
    mantissa = text.lower().partition("e")[0]
    if value == 0 and any(digit in mantissa for digit in "123456789"):
        return _Refused("a non-zero number too small for a double (it would be stored as 0)")
    return value


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Refused:
    """An object, unless a key repeats: JSON leaves such an object's meaning open (RFC 8259 §4), and
    a parser that kept the last value would silently drop the first."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return _Refused("a key that appears more than once in its object", key=key)
        seen.add(key)
    return dict(pairs)


def _has_unpaired_surrogate(text: str) -> bool:
    """JSON may carry an unpaired UTF-16 surrogate (``"\\ud800"``); no database can store one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _first_refused(value: Any, path: str) -> tuple[str, str] | None:
    """The path and reason of the first refused value in ``value`` (found at ``path``), in document order."""
    if isinstance(value, _Refused):
        if value.key is None or _has_unpaired_surrogate(value.key):
            return path, value.reason
        return _child(path, value.key), value.reason
    if isinstance(value, str):
        return (path, "text with an unpaired UTF-16 surrogate") if _has_unpaired_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _has_unpaired_surrogate(key):
                # The key itself cannot be written back in an answer: name the object that holds it.
                return path, "a key with an unpaired UTF-16 surrogate"
            found = _first_refused(item, _child(path, key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_refused(item, f"{path}[{index}]")
            if found:
                return found
    return None


def content_refusal(text: str) -> InvalidRequest | None:
    """A 400 naming the first value of the JSON ``text`` that Waitroom refuses (a number it cannot
    hold, a duplicated key, text no database can store); None when there is none, or when the text
    is not JSON at all (the resolver reports that, with the position)."""
    try:
        parsed = json.loads(
            text, parse_int=_integer, parse_float=_float, parse_constant=_constant, object_pairs_hook=_object
        )
    except ValueError:
        return None
    found = _first_refused(parsed, "")
    if found is None:
        return None
    field, reason = found
    return InvalidRequest(f"{field or 'body'}: {reason}", details=[{"field": field or "body", "reason": reason}])


def body_text(event: dict[str, Any]) -> str | InvalidRequest:
    """The body as text: base64 decoded when API Gateway encoded it, and strictly UTF-8."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body)
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return InvalidRequest(
            "the body is marked base64 but is not", details=[{"field": "body", "reason": "invalid base64"}]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InvalidRequest(
            f"the body is not UTF-8 text: byte {exc.start} cannot be decoded",
            details=[{"field": "body", "reason": f"not UTF-8 (invalid byte at offset {exc.start})"}],
        )


def decoded_path(raw_path: str) -> str:
    """The path with each segment percent-decoded (RFC 3986 §6.2.2.2: ``%3A`` is ``:``), so that a
    path parameter is matched and validated as the client meant it. API Gateway passes ``rawPath``
    as sent and Powertools takes parameters from it; an encoded ``/`` stays encoded, so segments stay
    segments, and a segment that does not decode to UTF-8 stays as sent (its validation refuses it)."""
    segments = []
    for segment in raw_path.split("/"):
        try:
            segments.append(unquote(segment, errors="strict").replace("/", "%2F"))
        except UnicodeDecodeError:
            segments.append(segment)
    return "/".join(segments)


def screen_request(event: dict[str, Any], *, max_body_bytes: int) -> tuple[dict[str, Any], WaitroomError | None]:
    """The event the resolver may parse (its body as UTF-8 text, its media type spelt as Powertools
    expects), or the reason to refuse it before anything parses it."""
    if "%" in str(event.get("rawPath", "")):
        event = {**event, "rawPath": decoded_path(str(event["rawPath"]))}
    body = event.get("body") or ""
    # A base64 body is 4/3 of its bytes; judge the decoded size.
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(str(body).encode("utf-8", "surrogatepass"))
    if size > max_body_bytes:
        return event, PayloadTooLarge(
            f"the body has {size} bytes; the limit is {max_body_bytes}",
            details=[{"field": "body", "reason": f"larger than {max_body_bytes} bytes"}],
        )
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    if not body or method not in METHODS_WITH_BODY:
        return event, None
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    unsupported = media_type_refusal(headers.get("content-type"))
    if unsupported is not None:
        return event, unsupported
    text = body_text(event)
    if isinstance(text, InvalidRequest):
        return event, text
    if json_depth_exceeds(text, MAX_JSON_DEPTH):
        return event, InvalidRequest(
            f"the body nests deeper than {MAX_JSON_DEPTH} levels",
            details=[{"field": "body", "reason": f"JSON nested deeper than {MAX_JSON_DEPTH}"}],
        )
    refusal = content_refusal(text)
    if refusal is not None:
        return event, refusal
    headers["content-type"] = JSON_MEDIA_TYPE
    return {**event, "body": text, "isBase64Encoded": False, "headers": headers}, None
