"""multipart/form-data parsing with the standard library's MIME parser (``cgi`` is gone in 3.13)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


def parse_form_data(content_type: str, body: bytes) -> list[FormPart]:
    """Split a form-data body into its parts; ValueError when it is not multipart."""
    envelope = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(envelope + body)
    if not message.is_multipart():
        raise ValueError("The request is not multipart/form-data.")
    parts = []
    for part in message.iter_parts():
        name = _disposition_param(part, "name")
        if name is None:
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        parts.append(FormPart(name, _disposition_param(part, "filename"), content))
    return parts


def _disposition_param(part: Message, param: str) -> str | None:
    value = part.get_param(param, header="content-disposition")
    if value is None:
        return None
    return value if isinstance(value, str) else str(value[2])
