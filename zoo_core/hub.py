"""Verified, cached, concurrent-safe downloads: local file > cache > url.

The cache lives under ``zoo_home()/<kind>/<cache_name>``. Every file is checked against its sha256;
downloads go to a temp file in the cache folder and are renamed into place only once verified, under a
lock file (``<dest>.lock``) so concurrent processes end with one good file. With ``ZOO_OFFLINE=1`` no
connection is ever opened. Nothing here unpickles anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from zoo_core.errors import DownloadError, ZooError
from zoo_core.paths import offline, zoo_home

__all__ = ["sha256_file", "download", "resolve", "cached_path"]

CHUNK = 1 << 20
LOCK_TIMEOUT = 3600.0  # seconds to wait for another process's download of the same file
_LOCK_POLL = 0.05
_URL_SCHEMES = ("http", "https", "file")


def sha256_file(path) -> str:
    """Hex sha256 of the file at ``path``."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def cached_path(kind: str, cache_name: str) -> Path:
    """Where ``cache_name`` of ``kind`` (weights, datasets, ...) lives in the cache: ``zoo_home()/kind/cache_name``."""
    for part in (kind, cache_name):
        p = Path(part)
        if not part or p.is_absolute() or ".." in p.parts:
            raise DownloadError(f"invalid cache name {kind!r}/{cache_name!r}: must be a relative path without '..'")
    return zoo_home() / kind / cache_name


def download(url: str, dest: Path, sha256: str, progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch ``url`` (http(s), file:// or a local path) to ``dest``, verified against ``sha256``; return ``dest``."""
    dest = Path(dest)
    expected = _normalize_hash(sha256)
    if _verified(dest, expected):
        return dest
    kind, src = _source(url)
    if kind == "http" and offline():
        raise DownloadError(_offline_message(url, dest, expected))
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create cache folder {dest.parent}: {e}; set ZOO_HOME to a writable folder") from e
    with _FileLock(dest.with_name(dest.name + ".lock"), LOCK_TIMEOUT):
        if _verified(dest, expected):  # another process finished it while we waited
            return dest
        _remove_stale_parts(dest)
        _fetch(kind, src, url, dest, expected, progress, timeout)
    return dest


def resolve(ref: str, sha256: str, cache_name: str, kind: str = "weights", base_dir: Path | None = None,
            progress: bool = True) -> Path:
    """Return a verified local path for ``ref``: an existing local file, else the cache, else a download."""
    expected = _normalize_hash(sha256)
    is_url = urllib.parse.urlsplit(ref).scheme.lower() in _URL_SCHEMES
    local = None
    if not is_url:
        local = Path(ref).expanduser()
        if not local.is_absolute() and base_dir is not None:
            local = Path(base_dir) / local
        if local.is_file():
            actual = sha256_file(local)
            if actual != expected:
                raise DownloadError(f"sha256 mismatch for local file {local}: expected {expected}, got {actual}; "
                                    f"refusing to use it")
            return local
    cache = cached_path(kind, cache_name)
    if _verified(cache, expected):
        return cache
    if is_url:
        return download(ref, cache, expected, progress=progress)
    where = f" (relative to {base_dir})" if base_dir is not None and not Path(ref).expanduser().is_absolute() else ""
    raise DownloadError(f"local file {ref!r}{where} not found at {local}, and {cache} is not in the cache; "
                        f"fix the path or give an http(s):// or file:// URL")


# --- helpers -----------------------------------------------------------------------------------------

def _normalize_hash(sha256: str) -> str:
    h = (sha256 or "").strip().lower()
    if h.startswith("sha256:"):
        h = h[len("sha256:"):]
    if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise DownloadError(f"invalid sha256 {sha256!r}: expected 64 hex digits")
    return h


def _verified(path: Path, expected: str) -> bool:
    return path.is_file() and sha256_file(path) == expected


def _source(url: str) -> tuple[str, object]:
    """Classify ``url``: ('http', url) or ('file', Path)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return "http", url
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise DownloadError(f"unsupported file URL {url!r}: only local files (file:///path) are supported")
        return "file", Path(urllib.request.url2pathname(parts.path))
    if scheme and not os.path.exists(url):
        raise DownloadError(f"unsupported URL scheme {scheme!r} in {url!r}: use http(s)://, file:// or a local path")
    return "file", Path(url).expanduser()


def _offline_message(url: str, dest: Path, expected: str) -> str:
    return (f"ZOO_OFFLINE is set, so {url} was not downloaded, and {dest} is missing from the cache "
            f"(or fails its sha256 check). To pre-seed the cache, copy the file (sha256 {expected}) to {dest}, "
            f"or run `zoo download NAME` while online; or put the file in a local folder and set its path "
            f"(a local path or file:// URL in the registry entry).")


def _remove_stale_parts(dest: Path) -> None:
    """Delete temp files left by a killed process (safe: we hold the lock, so no one else is writing)."""
    for part in dest.parent.glob(dest.name + ".part-*"):
        try:
            part.unlink()
        except OSError:
            pass


def _open(kind: str, src, url: str, timeout: float):
    """Return (readable stream, expected length or None)."""
    if kind == "file":
        path = Path(src)
        if not path.is_file():
            raise DownloadError(f"{url}: no such file {path}")
        return open(path, "rb"), path.stat().st_size
    from zoo_core import __version__

    req = urllib.request.Request(url, headers={"User-Agent": f"zoo-core/{__version__}"})
    resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (scheme checked: http/https)
    length = resp.headers.get("Content-Length")
    try:
        total = int(length) if length is not None else None
    except ValueError:
        total = None
    return resp, total


def _fetch(kind: str, src, url: str, dest: Path, expected: str, progress: bool, timeout: float) -> None:
    """Stream to a temp file next to ``dest``, verify, rename; the temp file never outlives a failure."""
    tmp = tempfile.NamedTemporaryFile(delete=False, dir=dest.parent, prefix=dest.name + ".part-")
    done = False
    try:
        digest = hashlib.sha256()
        received = 0
        with tmp:
            stream, total = _open(kind, src, url, timeout)
            with stream:
                bar = _Bar(progress, total, dest.name)
                try:
                    while chunk := stream.read(CHUNK):
                        tmp.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.advance(len(chunk))
                finally:
                    bar.close()
            if total is not None and received != total:
                raise DownloadError(f"download of {url} is incomplete: got {received} of {total} bytes "
                                    f"(connection closed early); nothing was saved")
            tmp.flush()
            os.fsync(tmp.fileno())
        actual = digest.hexdigest()
        if actual != expected:
            raise DownloadError(f"sha256 mismatch for {url}: expected {expected}, got {actual}; "
                                f"the file was not saved")
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, dest)
        done = True
    except DownloadError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
    except Exception as e:  # connection reset, timeout, DNS, disk full, ...
        raise DownloadError(f"download of {url} failed: {type(e).__name__}: {e}; nothing was saved") from e
    finally:
        if not done:
            try:
                os.unlink(tmp.name)
            except FileNotFoundError:
                pass


class _FileLock:
    """Exclusive ``fcntl.flock`` on ``path``, polled until ``timeout`` seconds; released on close or process death."""

    def __init__(self, path: Path, timeout: float):
        self.path, self.timeout, self.fd = path, timeout, None

    def __enter__(self):
        import time

        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DownloadError(f"cannot create lock file {self.path}: {e}; set ZOO_HOME to a writable folder") from e
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise DownloadError(f"timed out after {self.timeout:g} s waiting for {self.path}: another "
                                        f"process is downloading the same file") from None
                time.sleep(_LOCK_POLL)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # releases the lock; the lock file itself is left (unlinking it would race)
            self.fd = None


class _Bar:
    """A rich progress bar on stderr, or nothing when disabled or stderr is not a terminal."""

    def __init__(self, enabled: bool, total: int | None, label: str):
        self._progress = None
        if not enabled:
            return
        import sys

        if sys.stderr is None or not sys.stderr.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)
        except ImportError:  # the bar is cosmetic; never fail a download over it
            return

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        self._task = self._progress.add_task(label, total=total)
        self._progress.start()

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=n)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def weights_path(name_or_path: str, progress: bool = True) -> Path:
    """The local, verified file of a registry weights entry ``name.tag``, or an existing ``.safetensors`` path.

    Resolution order for a registry name: a local file (the checkout's ``weights/`` copy of a release file, or an
    entry url that is a path, relative to the registry file that names it; zoo_core.weight_sources) > the cache
    ``ZOO_HOME/weights/<name>.safetensors`` > a download from the url (release files from ``ZOO_WEIGHTS_URL`` when
    it is set).
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".safetensors":
        if not candidate.is_file():
            raise ZooError(f"{candidate}: no such weight file")
        return candidate
    from zoo_core import weight_sources as ws
    from zoo_core.registry import get_registry

    entry = get_registry().entry("weights", name_or_path)
    ref = ws.locate(entry["url"], entry.source)
    try:
        return resolve(ref, entry["sha256"], f"{entry.name}.safetensors", kind="weights",
                       base_dir=Path(entry.source).resolve().parent, progress=progress)
    except DownloadError as error:
        if not ws.is_release_url(entry["url"]) or ref != ws.mirrored(entry["url"]):
            raise  # not a release file, or the checkout's copy: the message says it all
        raise DownloadError(f"{error} ({ws.mirror_hint(entry.name)})") from error


def load_pretrained(name: str, device: str = "cpu", progress: bool = True):
    """A ready, eval-mode model for a weights name (or file); its spec and metadata are on ``model.zoo_spec`` and
    ``model.zoo_meta``. Weights whose featurizer differs from the installed one are refused (FeaturizerMismatch)."""
    from zoo_core.weights import load_model

    model, spec, meta = load_model(weights_path(name, progress=progress), device=device, check_installed=True,
                                   for_prediction=True)
    model.zoo_spec, model.zoo_meta = spec, meta
    return model
