"""Hub ids (``org/name``) resolved from the local Hugging Face cache; downloaded only where the environment allows.

The cache is ``$HF_HUB_CACHE`` (default ``~/.cache/huggingface/hub``). With ``HF_HUB_OFFLINE=1`` nothing is fetched:
a model missing from the cache is one clear error that says how to fetch it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HubError(ValueError):
    """A Hub id that cannot be resolved here."""


def is_hub_id(path: str) -> bool:
    """``org/name`` that is not an existing local path."""
    return bool(HUB_ID.match(path)) and not Path(path).expanduser().exists()


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def resolve_hub_id(repo_id: str, revision: str = "") -> Path:
    """The local snapshot directory of ``repo_id`` at ``revision`` (default ``main``): from the cache first, then a
    download unless ``HF_HUB_OFFLINE`` is set. Raises HubError with the command that fetches it."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    rev = revision or None
    cache = os.environ.get("HF_HUB_CACHE") or None
    try:
        return Path(snapshot_download(repo_id, revision=rev, cache_dir=cache, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    fetch = f"huggingface-cli download {repo_id}" + (f" --revision {revision}" if revision else "")
    if offline():
        raise HubError(f"model.path: {repo_id!r}{f' at revision {revision!r}' if revision else ''} is not in the "
                       f"local Hugging Face cache ({cache or '~/.cache/huggingface/hub'}) and HF_HUB_OFFLINE is set; "
                       f"fetch it on a machine with network (`{fetch}`) or unset HF_HUB_OFFLINE")
    try:
        return Path(snapshot_download(repo_id, revision=rev, cache_dir=cache))
    except Exception as e:  # network, auth, unknown repo: one line with the way out
        raise HubError(f"model.path: could not download {repo_id!r} ({type(e).__name__}: {e}); "
                       f"fetch it with `{fetch}`, or give a local directory") from e
