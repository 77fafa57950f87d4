"""Optional dependencies (the ``credo[...]`` extras) imported where they are used."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, purpose: str, extra: str) -> ModuleType:
    """Import ``module`` or raise one line naming what needs it (``purpose``) and the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{purpose} needs {module}: pip install 'credo[{extra}]'") from e
