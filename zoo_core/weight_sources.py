"""Where a published weight file is fetched from: the release, a mirror, or a checkout's ``weights/`` folder.

The zoo publishes its weight files as assets of one GitHub release, :data:`RELEASE_BASE_URL`; the ``url`` of each
published registry entry is that base + ``<name>.safetensors``, so an installed zoo (wheels, no checkout) downloads
them into the cache, sha256-verified by :mod:`zoo_core.hub`. ``ZOO_WEIGHTS_URL=BASE`` (a mirror, an air-gapped
copy, a test's local server: ``http://127.0.0.1:8000/``) replaces the release base for every url under it; any
other url is used as written. In a checkout the registry file sits beside ``weights/``: a file there named like
the url's last part is used in place (a development shortcut, sha256-checked like a download).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

__all__ = ["RELEASE_BASE_URL", "release_url", "is_release_url", "base_url", "mirrored", "mirror_hint",
           "checkout_copy", "locate"]

RELEASE_TAG = "weights-v2"
RELEASE_BASE_URL = f"https://github.com/mrl-zoo/zoo/releases/download/{RELEASE_TAG}/"
ENV_BASE = "ZOO_WEIGHTS_URL"
CHECKOUT_FOLDER = "weights"


def release_url(file_name: str) -> str:
    """The stable remote location of a published weight file."""
    return RELEASE_BASE_URL + urllib.parse.quote(file_name)


def base_url() -> str:
    """The base the release's files are fetched from: ``ZOO_WEIGHTS_URL`` (with a trailing slash) or the release."""
    value = os.environ.get(ENV_BASE, "").strip()
    if not value:
        return RELEASE_BASE_URL
    return value if value.endswith("/") else value + "/"


def _release_file(url: str) -> str | None:
    """The file name of a url under the release base, else None."""
    if not url.startswith(RELEASE_BASE_URL):
        return None
    rest = url[len(RELEASE_BASE_URL):]
    return rest if rest and "/" not in rest else None


def is_release_url(url: str) -> bool:
    """Is ``url`` a file of the zoo's release (so a mirror and the checkout's ``weights/`` apply)?"""
    return _release_file(url) is not None


def mirrored(url: str) -> str:
    """``url`` with the release base replaced by :func:`base_url` (a url elsewhere is returned as it is)."""
    name = _release_file(url)
    return url if name is None else base_url() + name


def mirror_hint(name: str) -> str:
    """Where the release file of weights ``name`` was looked for, and how to point the zoo at a copy."""
    where = "the release" if base_url() == RELEASE_BASE_URL else f"the mirror {base_url()} ({ENV_BASE})"
    return (f"weights {name} are an asset of the zoo's release {RELEASE_BASE_URL}, fetched from {where}; "
            f"{ENV_BASE}=BASE points the zoo at a mirror, e.g. file:///path/to/copy/ for a local copy (which works "
            f"with ZOO_OFFLINE=1 too)")


def checkout_copy(url: str, registry_file: str | Path) -> Path | None:
    """The checkout's copy of a release file: ``<folder of the registry file>/weights/<file>`` when it exists (the
    registry file's symlinks resolved: ``zoo_core/registry.yaml`` links to the checkout's ``registry.yaml``)."""
    name = _release_file(url)
    if name is None:
        return None
    path = Path(registry_file).resolve().parent / CHECKOUT_FOLDER / urllib.parse.unquote(name)
    return path if path.is_file() else None


def locate(url: str, registry_file: str | Path) -> str:
    """What :func:`zoo_core.hub.resolve` should fetch for an entry's ``url``: the checkout's copy, else the url on
    the mirror (or the release)."""
    local = checkout_copy(url, registry_file)
    return str(local) if local is not None else mirrored(url)
