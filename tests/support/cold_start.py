"""A function's module imported in a fresh interpreter, as Lambda's runtime imports it at a cold start:
what it loads, and how it fails."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from devstack.template import ROOT

_LIST_MODULES = "import sys, app; print('\\n'.join(sorted(sys.modules)))"


def import_app(
    function: str, environment: Mapping[str, str], *, code: str = "import app", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in ``functions/<function>`` with the layer's package on the path and ``environment``
    as the whole environment."""
    path = os.pathsep.join([str(ROOT / "functions" / function), str(ROOT / "shared")])
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "functions" / function,
        env={**environment, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def modules_after_import(function: str, environment: Mapping[str, str]) -> set[str]:
    """The modules loaded once ``functions/<function>/app.py`` is imported."""
    return set(import_app(function, environment, code=_LIST_MODULES).stdout.split())
