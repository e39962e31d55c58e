"""``make -s token``: print a JWT the local stack accepts. ``SUB`` names the caller, ``ADMIN=1`` adds
the admin scope.

    curl -H "Authorization: Bearer $(make -s token)" http://127.0.0.1:8080/api/process/status/all
"""

from __future__ import annotations

import os

from devstack.identity import LocalIdentity
from devstack.stack import LocalSettings


def main() -> None:
    identity = LocalIdentity.in_directory(LocalSettings().data_dir)
    admin = os.environ.get("ADMIN", "").lower() in {"1", "true", "yes"}
    print(identity.issue(os.environ.get("SUB") or "local-user", admin=admin))


if __name__ == "__main__":
    main()
