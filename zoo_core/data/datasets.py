"""Dataset access: find a registered dataset's file, check its sha256, fetch it, and read it into a PairTable.

A dataset is an entry of the ``datasets:`` section of the registry. Its file is found (``locate``) in this
order; the first copy that exists is used and its sha256 is checked on **every** read. A copy with the
wrong hash is refused, never silently replaced by the next one in the list:

1. an explicit ``path`` (``load_table(name, path=...)``); for ``user_supplied`` entries also
   ``$ZOO_<NAME>_FILE`` (e.g. ``ZOO_MNSOL_FILE``);
2. the file embedded in a plugin package, ``embedded: "package:relative/path"`` (resolved with
   ``importlib.resources``; FreeSolv ships inside zoo-datasets; QM9 inside qm9pack, an optional extra whose
   ``install`` command the not-found message gives instead of a download);
3. ``$ZOO_DATA_DIR/<source.file>`` (a local folder of copies, e.g. ``../shared/data``);
4. the cache, ``zoo_home()/data/<source.file>``, filled by ``fetch`` (``zoo data fetch NAME``).

A dataset made of several files (ChChMiner's train/valid/test) names its first file as above and the others under
``source.extra_files: [{file, sha256, url}]``; each is found and checked the same way (``extra_files``) and
``fetch`` downloads them all.

``user_supplied`` entries (MNSol, whose license forbids redistribution) have no URL: the user points the zoo
at their own file, and its hash is checked only if the entry names one.

The file is parsed by the reader that a plugin registered under the entry's ``impl``
(``zoo_register_datasets``). Nothing here imports torch, dgl or rdkit; numpy is imported by the readers.
"""

from __future__ import annotations

import dataclasses
import os
import re
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping

from zoo_core.errors import DataError, RegistryError
from zoo_core.hub import sha256_file
from zoo_core.paths import data_dir, zoo_home
from zoo_core.registry import Entry, get_registry

if TYPE_CHECKING:  # numpy stays out of `zoo data list`
    from zoo_core.data.table import PairTable

__all__ = [
    "ChecksumMismatch", "DatasetNotFound", "check_entry", "dataset_entry", "extra_files", "fetch",
    "list_datasets", "load_table", "locate", "source_of", "user_env",
]

_SOURCE_KEYS = {"url": True, "sha256": True, "file": True, "license": False, "citation": False, "extra_files": False}
_EXTRA_KEYS = ("file", "sha256", "url")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class DatasetNotFound(DataError):
    """No local copy of a dataset's file; the message says how to get one."""


class ChecksumMismatch(DataError):
    """A dataset file's sha256 differs from the registry's; ``kind`` says where the copy lies."""

    def __init__(self, message: str, path: Path, expected: str, actual: str, kind: str):
        super().__init__(message)
        self.path, self.expected, self.actual, self.kind = path, expected, actual, kind


# --- entries ----------------------------------------------------------------------------------------------

def _where(entry: Entry, key: str | None = None) -> str:
    line = f", line {entry.line}" if entry.line else ""
    return f"{entry.source}{line}: entry datasets.{entry.name}" + (f", key {key!r}" if key else "")


def source_of(entry: Entry) -> dict[str, Any]:
    """The entry's source: ``source:`` mapping, plus the flat ``url``/``sha256``/``file`` keys if used."""
    source = dict(entry.get("source") or {})
    for key in ("url", "sha256", "file"):
        if key in entry.data:
            if key in source and source[key] != entry.data[key]:
                raise RegistryError(f"{_where(entry, key)}: {key!r} given twice with different values "
                                    f"(top level and under 'source')")
            source[key] = entry.data[key]
    return source


def check_entry(entry: Entry) -> Entry:
    """Validate what the registry's schema leaves open (roles, columns, source, embedded); return the entry."""
    roles = entry.get("roles")
    if not (isinstance(roles, list) and len(roles) in (1, 2) and all(isinstance(r, str) and r for r in roles)):
        raise RegistryError(f"{_where(entry, 'roles')} must list one role name (a molecule dataset, e.g. "
                            f"[molecule]) or two, molecule A first (e.g. [solute, solvent]), got {roles!r}")
    targets = entry.get("targets")
    if targets is not None and not (isinstance(targets, list) and targets
                                    and all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in targets)):
        raise RegistryError(f"{_where(entry, 'targets')} must list the target columns (header names or indices), "
                            f"got {targets!r}")
    select_by = entry.get("select_by")
    if select_by is not None:
        from zoo_core.train.metrics import CLASSIFICATION, REGRESSION

        known = ["loss", *(CLASSIFICATION if entry["task"] == "classification" else REGRESSION)]
        if select_by not in known:
            raise RegistryError(f"{_where(entry, 'select_by')} must be one of {', '.join(known)}, got {select_by!r}")
    _check_negatives(entry)
    columns = entry.get("columns") or {}
    for key, value in columns.items():
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise RegistryError(f"{_where(entry, 'columns')}: column {key!r} must be a header name or an index, "
                                f"got {value!r}")
    source = source_of(entry)
    for key, value in source.items():
        if key not in _SOURCE_KEYS:
            raise RegistryError(f"{_where(entry, 'source')}: unknown key {key!r} "
                                f"(allowed: {', '.join(sorted(_SOURCE_KEYS))})")
        if key != "extra_files" and (not isinstance(value, str) or not value):
            raise RegistryError(f"{_where(entry, 'source')}: {key!r} must be a non-empty string")
    if not entry.get("user_supplied", False):
        missing = [k for k, required in _SOURCE_KEYS.items() if required and k not in source]
        if missing:
            raise RegistryError(f"{_where(entry, 'source')}: missing {', '.join(missing)} "
                                f"(needed to find, check and download the file)")
    _check_file_keys(entry, source, "source")
    _check_extra_files(entry, source.get("extra_files"))
    embedded = entry.get("embedded")
    if embedded is not None:
        package, sep, rel = embedded.partition(":")
        if not sep or not package or not rel or ".." in PurePosixPath(rel).parts:
            raise RegistryError(f"{_where(entry, 'embedded')} must look like 'package:relative/path', "
                                f"got {embedded!r}")
        if "sha256" not in source:
            raise RegistryError(f"{_where(entry, 'embedded')}: an embedded file needs source.sha256")
    return entry


def _check_file_keys(entry: Entry, source: Mapping[str, Any], where: str) -> None:
    """The rules of a file's ``sha256``, ``url`` and ``file`` (a relative path inside the data folder)."""
    if "sha256" in source and not _SHA.match(source["sha256"]):
        raise RegistryError(f"{_where(entry, where)}: 'sha256' must be 64 lower-case hex digits")
    if "url" in source and not source["url"].startswith(("https://", "http://", "file:")):
        raise RegistryError(f"{_where(entry, where)}: 'url' must be http(s) or file, got {source['url']!r}")
    if "file" in source:
        rel = PurePosixPath(source["file"])
        if rel.is_absolute() or ".." in rel.parts or "\\" in source["file"]:
            raise RegistryError(f"{_where(entry, where)}: 'file' must be a relative path inside the data "
                                f"folder (forward slashes, no '..'), got {source['file']!r}")


def _check_negatives(entry: Entry) -> None:
    """``negatives: {ratio: R}`` marks a DDI positives set: classification, two roles, a DDI split."""
    negatives = entry.get("negatives")
    if negatives is None:
        return
    from zoo_core.data.ddi import DDI_SPLITS  # numpy: only for DDI entries

    ratio = negatives.get("ratio", 1)
    if set(negatives) - {"ratio"} or isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio <= 0:
        raise RegistryError(f"{_where(entry, 'negatives')} must be {{ratio: R}} with R > 0 negatives per positive, "
                            f"got {negatives!r}")
    if entry["task"] != "classification" or len(entry["roles"]) != 2 or entry["split"] not in DDI_SPLITS:
        raise RegistryError(f"{_where(entry, 'negatives')}: a DDI positives set is a classification set with two "
                            f"roles and a DDI split ({', '.join(DDI_SPLITS)}), got task {entry['task']!r}, "
                            f"roles {entry['roles']!r}, split {entry['split']!r}")


def _check_extra_files(entry: Entry, extra: Any) -> None:
    """``source.extra_files``: a list of ``{file, sha256, url}`` mappings, each a checked file like the first."""
    if extra is None:
        return
    if not isinstance(extra, list) or not extra:
        raise RegistryError(f"{_where(entry, 'source')}: 'extra_files' must be a non-empty list of "
                            f"{{file, sha256, url}} mappings")
    for k, item in enumerate(extra):
        where = f"source.extra_files[{k}]"
        if not isinstance(item, dict) or sorted(item) != sorted(_EXTRA_KEYS) or \
                not all(isinstance(v, str) and v for v in item.values()):
            raise RegistryError(f"{_where(entry, where)} must give exactly {', '.join(_EXTRA_KEYS)} as non-empty "
                                f"strings, got {item!r}")
        _check_file_keys(entry, item, where)


def dataset_entry(name: str) -> Entry:
    """The registry entry of dataset ``name`` (validated); a RegistryError suggests close names."""
    return check_entry(get_registry().entry("datasets", name))


def _as_entry(entry: Entry | str) -> Entry:
    return dataset_entry(entry) if isinstance(entry, str) else check_entry(entry)


def user_env(name: str, what: str) -> str:
    """Environment variable for a user-supplied dataset: ``user_env('mnsol', 'FILE') == 'ZOO_MNSOL_FILE'``."""
    return "ZOO_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_" + what


# --- files and hashes -------------------------------------------------------------------------------------

def _cache_path(entry: Entry) -> Path:
    return zoo_home() / "data" / source_of(entry)["file"]


def _embedded_path(entry: Entry) -> Path | None:
    """The embedded file as a real path, or None if the package providing it is not installed."""
    embedded = entry.get("embedded")
    if not embedded:
        return None
    package, _, rel = embedded.partition(":")
    folder = _package_folder(package)
    if folder is not None and (folder / rel).is_file():
        return folder / rel
    try:
        resource = resources.files(package).joinpath(rel)
    except (ModuleNotFoundError, TypeError):
        return None
    if not resource.is_file():
        return None
    if isinstance(resource, Path):
        return resource
    # The package is not a plain folder (e.g. a zip): keep one extracted copy in the cache.
    target = zoo_home() / "data" / "embedded" / package / rel
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(resource.read_bytes())
        os.replace(tmp, target)
    return target


def _package_folder(package: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it (qm9pack's ``__init__`` needs
    ``pkg_resources`` and pandas, which a file lookup must not)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def _candidates(entry: Entry) -> list[tuple[str, Path]]:
    """Where a copy may lie, in resolution order: (kind, path)."""
    out: list[tuple[str, Path]] = []
    embedded = _embedded_path(entry)
    if embedded is not None:
        out.append(("embedded", embedded))
    source = source_of(entry)
    if "file" in source:
        folder = data_dir()
        if folder is not None:
            out.append(("data dir", folder / source["file"]))
        out.append(("cache", _cache_path(entry)))
    return out


def _advice(entry: Entry, kind: str) -> str:
    url = source_of(entry).get("url", "its source")
    if kind == "embedded":
        return "The installed package is damaged: reinstall zoo-datasets (pip install --force-reinstall zoo-datasets)."
    if kind == "data dir":
        return (f"Replace it with the original file from {url}, or unset ZOO_DATA_DIR and run: "
                f"zoo data fetch {entry.name}")
    if kind == "cache":
        return f"Run: zoo data fetch {entry.name} (it downloads a fresh copy over the bad one)."
    return f"Use the original file (from {url})." if kind == "given path" else "Use the original file."


def _verify(entry: Entry, path: Path, kind: str) -> Path:
    expected = source_of(entry).get("sha256")
    if not expected:
        return path
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"{path}: sha256 mismatch for dataset {entry.name!r} ({kind} copy of {source_of(entry).get('file', path.name)}): "
            f"expected {expected}, got {actual}. The file is corrupted, truncated or a different version. "
            f"{_advice(entry, kind)}", path, expected, actual, kind)
    return path


def _supply_hint(entry: Entry) -> str:
    env = user_env(entry.name, "FILE")
    roles = entry["roles"]
    return (f"Dataset {entry.name!r} is not distributed with the zoo (its license forbids redistribution); "
            f"supply your own copy: set {env}=/path/to/file.csv, or pass path=... to "
            f"zoo_core.data.datasets.load_table. The file needs a header and one column each for the "
            f"{roles[0]} SMILES, the {roles[1]} SMILES and the target (defaults: {entry.get('columns')}; "
            f"override with {user_env(entry.name, 'COLUMNS')}=\"{roles[0]}=COL,{roles[1]}=COL,target=COL\").")


def _install_hint(entry: Entry) -> str:
    """An entry whose file comes in a Python package (``embedded`` + ``install``, QM9's qm9pack) that is missing."""
    package = entry["embedded"].partition(":")[0]
    return (f"dataset {entry.name!r} comes in the Python package {package}, which is not installed: "
            f"{entry['install']}")


def locate(entry: Entry | str, path: str | Path | None = None) -> Path:
    """The local, sha256-checked file of a dataset (an Entry or a name); see the module docstring for the order.

    Raises DatasetNotFound (with the command that fetches it) or ChecksumMismatch (naming the file, the
    expected and the actual hash and what to do).
    """
    entry = _as_entry(entry)
    user = bool(entry.get("user_supplied", False))
    kind = "given path"
    if path is None and user:
        env = user_env(entry.name, "FILE")
        if os.environ.get(env):
            path, kind = os.environ[env], f"${env}"
    if path is not None:
        given = Path(path).expanduser()
        if not given.is_file():
            hint = _supply_hint(entry) if user else f"Run: zoo data fetch {entry.name}"
            raise DatasetNotFound(f"dataset {entry.name!r}: {given} ({kind}) is not a file. {hint}")
        return _verify(entry, given, kind)
    if user:
        raise DatasetNotFound(_supply_hint(entry))
    candidates = _candidates(entry)
    for kind, candidate in candidates:
        if candidate.is_file():
            return _verify(entry, candidate, kind)
    if entry.get("install"):
        raise DatasetNotFound(_install_hint(entry))
    source = source_of(entry)
    looked = "; ".join(f"{k}: {p}" for k, p in candidates)
    raise DatasetNotFound(
        f"dataset {entry.name!r}: no local copy of {source['file']} (looked in {looked}). "
        f"Run: zoo data fetch {entry.name} (downloads {source['url']} into {_cache_path(entry).parent}), "
        f"or set ZOO_DATA_DIR to a folder that holds {source['file']}.")


def _extra_entries(entry: Entry) -> list[Entry]:
    """One entry per ``source.extra_files`` item: the dataset's entry with that file as its only source."""
    base = {k: v for k, v in entry.data.items() if k not in ("url", "sha256", "file", "embedded", "source")}
    return [dataclasses.replace(entry, data={**base, "source": dict(item)})
            for item in source_of(entry).get("extra_files") or []]


def extra_files(entry: Entry | str) -> list[Path]:
    """The local, sha256-checked copies of the entry's ``source.extra_files``, in the order listed (found like
    the first file: ``ZOO_DATA_DIR``, then the cache)."""
    return [locate(extra) for extra in _extra_entries(_as_entry(entry))]


def fetch(name: str, progress: bool = True) -> Path:
    """Make dataset ``name`` available locally and return its checked path; downloads into the cache if needed.

    A copy that is already present (embedded, data dir or cache) is checked and returned. A cached copy with
    a bad hash is downloaded again; a bad copy in ``ZOO_DATA_DIR`` is refused (the zoo does not write there).
    Downloads go through ``zoo_core.hub.download`` (temp file, sha256 check, atomic rename, ``ZOO_OFFLINE``).
    The files of ``source.extra_files`` are fetched the same way.
    """
    entry = dataset_entry(name)
    if entry.get("user_supplied", False):
        raise DataError(f"dataset {name!r} cannot be downloaded. {_supply_hint(entry)}")
    for extra in _extra_entries(entry):
        _fetch_entry(extra, progress)
    return _fetch_entry(entry, progress)


def _fetch_entry(entry: Entry, progress: bool) -> Path:
    try:
        return locate(entry)
    except ChecksumMismatch as error:
        if error.kind != "cache":
            raise
    except DatasetNotFound:
        if entry.get("install"):
            raise
    from zoo_core.hub import download  # lazy: the hub is only needed to download

    source = source_of(entry)
    dest = _cache_path(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    download(source["url"], dest, sha256=source["sha256"], progress=progress)
    return _verify(entry, dest, "cache")


# --- reading ----------------------------------------------------------------------------------------------

def _columns_from_env(entry: Entry) -> dict[str, Any]:
    env = user_env(entry.name, "COLUMNS")
    value = os.environ.get(env, "").strip()
    if not value:
        return {}
    role_a, role_b = entry["roles"]
    aliases = {"a": "a", role_a: "a", "b": "b", role_b: "b", "y": "y", "target": "y"}
    out: dict[str, Any] = {}
    for item in value.split(","):
        key, sep, column = item.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or key not in aliases or not column:
            raise DataError(f"${env}={value!r}: expected \"{role_a}=COL,{role_b}=COL,target=COL\" "
                            f"(keys: {', '.join(sorted(aliases))})")
        out[aliases[key]] = column
    return out


def load_table(name: str, *, path: str | Path | None = None, columns: Mapping[str, Any] | None = None,
               transform: str | None = None) -> "PairTable":
    """Read dataset ``name`` into a PairTable (molecule A = first role, B = second role, y = target).

    ``path`` reads that file instead of the resolved copy (still hash-checked when the entry has a sha256);
    ``columns`` (any of ``a``, ``b``, ``y``) and ``transform`` override the entry, which is how a
    user-supplied file with other column names is read (also ``$ZOO_<NAME>_COLUMNS``). Bad rows are in
    ``table.bad``; nothing is dropped silently.
    """
    entry = dataset_entry(name)
    file = locate(entry, path=path)
    overrides: dict[str, Any] = {}
    cols = dict(entry.get("columns") or {})
    if entry.get("user_supplied", False):
        cols.update(_columns_from_env(entry))
    if columns:
        unknown = set(columns) - {"a", "b", "y", "ssid"}
        if unknown:
            raise DataError(f"load_table({name!r}): unknown column keys {sorted(unknown)} (use a, b, y)")
        cols.update(columns)
    if cols != (entry.get("columns") or {}):
        overrides["columns"] = cols
    if transform is not None:
        overrides["transform"] = transform
    if overrides:
        entry = dataclasses.replace(entry, data={**entry.data, **overrides})
    impl = entry["impl"]
    from zoo_core.plugins import get_catalog

    try:
        registration = get_catalog().get("datasets", impl)
    except KeyError as error:
        plugin = entry.get("plugin", "the plugin that provides it")
        raise DataError(f"dataset {name!r} is read by {impl!r}, which no loaded plugin registers "
                        f"({error.args[0]}); install {plugin} (e.g. pip install {plugin}) and check `zoo plugins`"
                        ) from None
    return registration.load()(entry, file)


# --- listing ----------------------------------------------------------------------------------------------

def _location(entry: Entry) -> tuple[str, Path | None]:
    """Where the file would be read from (existence only; the hash is checked on read)."""
    if entry.get("user_supplied", False):
        env = user_env(entry.name, "FILE")
        value = os.environ.get(env)
        if value and Path(value).expanduser().is_file():
            return "user file", Path(value).expanduser()
        return f"user-supplied (set {env})", None
    if not all(any(c.is_file() for _, c in _candidates(extra)) for extra in _extra_entries(entry)):
        return "missing", None
    for kind, candidate in _candidates(entry):
        if candidate.is_file():
            return kind, candidate
    return "missing", None


def list_datasets() -> list[dict[str, Any]]:
    """One row per registered dataset for ``zoo data list``: what it is, where it comes from, where it lies."""
    rows = []
    for entry in get_registry().list("datasets"):
        entry = check_entry(entry)
        source = source_of(entry)
        location, path = _location(entry)
        rows.append({
            "name": entry.name,
            "task": entry["task"],
            "targets": list(entry.get("targets") or [entry["target"]]),
            "roles": list(entry["roles"]),
            "target": entry["target"],
            "units": entry.get("units"),
            "size": entry.get("size"),
            "plugin": entry.get("plugin"),
            "url": source.get("url"),
            "file": source.get("file"),
            "location": location,
            "status": location,   # alias read by `zoo data list`
            "available": path is not None,
            "path": str(path) if path is not None else None,
        })
    return rows
