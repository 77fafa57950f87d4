"""Named plug-in registries: one signature per registry, loud on unknown or conflicting names."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any


class Registry:
    """A name → callable map for one plug-in point (advantages, policy losses, engines, ...).

    ``register(name)`` is a decorator. Registering a *different* object under a taken name raises; registering the
    same object twice is a no-op (module reloads). ``get`` on an unknown name raises ``KeyError`` listing the known
    names and the closest match.
    """

    def __init__(self, kind: str, signature: str = ""):
        self.kind = kind
        self.signature = signature
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            old = self._entries.get(name)
            if old is not None and old is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered to {old!r}")
            self._entries[name] = obj
            return obj

        return deco

    def get(self, name: str) -> Any:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"unknown {self.kind} {name!r}{hint} known: {sorted(self._entries)}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
