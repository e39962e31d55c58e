"""Secrets Manager, through Powertools parameters: the one way Waitroom reads a secret.

A value is cached for :data:`CACHE_S` in the execution environment; ``refresh`` fetches it again (a
failed login after a rotation).
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from waitroom.domain.errors import ConfigurationError
from waitroom.settings import MIN_CURSOR_KEY_CHARS, Settings

CACHE_S = 300
#: Bytes of the cursor key made for one process when none is configured outside Lambda.
PROCESS_KEY_BYTES = 32


def read_secret(arn: str, *, transform: Literal["json"] | None = None, refresh: bool = False) -> Any:
    """The value of the secret ``arn``: its text, or with ``transform="json"`` its parsed JSON."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 -- boto3 only when used

    return parameters.get_secret(arn, transform=transform, max_age=CACHE_S, force_fetch=refresh)


def cursor_key(settings: Settings) -> bytes:
    """The key the list route signs its cursors with: ``CURSOR_KEY``, else the text of the secret
    ``CURSOR_KEY_SECRET_ARN``. Outside Lambda, without either, a random key of this process (its
    cursors are refused by any other); in Lambda, without either, a :class:`ConfigurationError`,
    since each execution environment would refuse the cursors of the others."""
    if settings.cursor_key is not None:
        return settings.cursor_key.get_secret_value().encode()
    if settings.cursor_key_secret_arn:
        value = read_secret(settings.cursor_key_secret_arn)
        if not isinstance(value, str) or len(value) < MIN_CURSOR_KEY_CHARS:
            raise ConfigurationError(
                f"CURSOR_KEY_SECRET_ARN: the secret must be text of at least {MIN_CURSOR_KEY_CHARS} characters"
            )
        return value.encode()
    if settings.aws_lambda_function_name:
        raise ConfigurationError(
            "no cursor key configured: set CURSOR_KEY_SECRET_ARN (or CURSOR_KEY); the template creates the secret"
        )
    return secrets.token_bytes(PROCESS_KEY_BYTES)
