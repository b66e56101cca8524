"""The catalogue: ``registry.yaml`` plus fragments from plugins, loaded with ``yaml.safe_load``.

Sections: ``encoders``, ``pair_models``, ``pretrainers``, ``pair_sets`` (pretraining pair sets, built by
``zoo_core.data.pair_sets``), ``datasets``, ``weights``. Every error names the file, the entry, the key and (where
known) the line.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo_core.errors import RegistryError

SECTIONS = ("encoders", "pair_models", "pretrainers", "pair_sets", "datasets", "weights")

# key -> (required, allowed types) per section; unknown keys are errors (they are usually typos).
_COMMON = {
    "impl": (True, str), "plugin": (False, str), "description": (False, str), "paper": (False, str),
    "params": (False, dict), "citation": (False, str), "license": (False, str),
}
SCHEMA: dict[str, dict[str, tuple[bool, type | tuple]]] = {
    "encoders": {**_COMMON, "featurizer": (True, str), "requires_3d": (False, bool)},
    "pair_models": {**_COMMON, "default_encoder": (False, str), "featurizer": (False, str), "roles": (False, int)},
    "pretrainers": {**_COMMON, "target": (False, str), "pairs": (False, dict), "train": (False, dict)},  # train: {lr}
    # impl: a builder of zoo_core.data.pair_sets (train_split | product | pairs); `transductive` must be stated.
    "pair_sets": {**_COMMON, "datasets": (False, list), "transductive": (True, bool)},
    "datasets": {
        **_COMMON, "task": (True, str), "roles": (True, list), "target": (True, str), "units": (False, str),
        "metric": (True, str), "split": (True, str), "explicit_h": (True, bool), "featurizer": (False, str),
        "train": (False, dict), "source": (False, dict), "columns": (False, dict), "transform": (False, str),
        "embedded": (False, str), "user_supplied": (False, bool), "size": (False, int),
        "url": (False, str), "sha256": (False, str), "file": (False, str),
        "targets": (False, list), "select_by": (False, str), "scale_targets": (False, bool),
        "model_featurizer": (False, str), "symmetric": (False, bool),
        "pair_params": (False, dict),  # per pair model name: its parameters on this dataset (CGIB's DDI beta)
        "pos_weight": (False, (str, int, float, list, type(None))),
        "negatives": (False, dict),   # a DDI positives set: {ratio: negatives per positive}, drawn per repeat
        "install": (False, str),      # the pip command that installs the package an `embedded` file comes in
    },
    "weights": {
        "impl": (False, str), "plugin": (False, str), "description": (False, str), "paper": (False, str),
        "license": (False, str), "citation": (False, str),
        "model": (False, str), "encoder": (True, str), "pair_model": (True, str),
        "pretrainer": (False, (str, type(None))), "dataset": (False, str), "url": (True, str), "sha256": (True, str),
        "size_bytes": (False, int), "featurizer": (True, dict), "metrics": (False, dict), "training": (False, dict),
        "pretraining": (False, (dict, type(None))), "card": (False, str),
    },
}
_TASKS = {"regression", "classification"}


def default_registry_path() -> Path:
    """The zoo's own catalogue, shipped with zoo_core."""
    return Path(__file__).resolve().parent / "registry.yaml"


@dataclass
class Entry:
    """One catalogue entry with the file it came from (for messages and relative URLs)."""

    section: str
    name: str
    data: dict[str, Any]
    source: Path
    line: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.data.get("params") or {})


@dataclass
class Registry:
    """The merged catalogue."""

    sections: dict[str, dict[str, Entry]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    files: list[Path] = field(default_factory=list)

    def entry(self, section: str, name: str) -> Entry:
        """The entry ``name`` of ``section``; a RegistryError lists close names."""
        table = self.sections[section]
        if name not in table:
            close = [n for n in table if name.lower() in n.lower() or n.lower() in name.lower()]
            hint = f"; did you mean {', '.join(sorted(close))}?" if close else f"; known: {', '.join(sorted(table)) or 'none'}"
            raise RegistryError(f"no {section[:-1].replace('_', ' ')} named {name!r} in the registry{hint}")
        return table[name]

    def find(self, name: str) -> list[Entry]:
        """Every entry called ``name`` in any section."""
        return [t[name] for t in self.sections.values() if name in t]

    def list(self, section: str, pattern: str = "*") -> list[Entry]:
        """Entries of ``section`` whose name matches the fnmatch ``pattern``, sorted by name."""
        return [e for n, e in sorted(self.sections[section].items()) if fnmatch.fnmatchcase(n, pattern)]


def _line_map(text: str) -> dict[tuple, int]:
    """Map (section,), (section, entry) and (section, entry, key) to 1-based line numbers."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if not isinstance(root, yaml.MappingNode):
        return lines
    for sk, sv in root.value:
        lines[(sk.value,)] = sk.start_mark.line + 1
        if isinstance(sv, yaml.MappingNode):
            for ek, ev in sv.value:
                lines[(sk.value, ek.value)] = ek.start_mark.line + 1
                if isinstance(ev, yaml.MappingNode):
                    for kk, _ in ev.value:
                        lines[(sk.value, ek.value, kk.value)] = kk.start_mark.line + 1
    return lines


def _where(path: Path, lines: dict, *keys: str) -> str:
    line = lines.get(tuple(keys))
    return f"{path}" + (f", line {line}" if line else "")


def parse_registry_file(path: Path | str) -> dict[str, dict[str, Entry]]:
    """Read and validate one registry file; raise RegistryError naming the file, entry and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RegistryError(f"{path}: cannot read registry file ({error})") from error
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RegistryError(f"{path}: not valid YAML: {error}") from error
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise RegistryError(f"{path}: the top level must be a mapping of sections ({', '.join(SECTIONS)})")
    lines = _line_map(text)
    out: dict[str, dict[str, Entry]] = {s: {} for s in SECTIONS}
    for section, entries in doc.items():
        if section == "version":
            continue
        if section not in SECTIONS:
            raise RegistryError(f"{_where(path, lines, section)}: unknown section {section!r} "
                                f"(expected one of {', '.join(SECTIONS)})")
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise RegistryError(f"{_where(path, lines, section)}: section {section!r} must be a mapping of entries")
        for name, data in entries.items():
            where = _where(path, lines, section, str(name))
            if not isinstance(data, dict):
                raise RegistryError(f"{where}: entry {section}.{name} must be a mapping")
            _validate(section, str(name), data, path, lines)
            out[section][str(name)] = Entry(section, str(name), data, path, lines.get((section, str(name))))
    return out


def _validate(section: str, name: str, data: dict, path: Path, lines: dict) -> None:
    schema = SCHEMA[section]
    for key, value in data.items():
        where = _where(path, lines, section, name, key)
        if key not in schema:
            raise RegistryError(f"{where}: entry {section}.{name}: unknown key {key!r} "
                                f"(allowed: {', '.join(sorted(schema))})")
        _, types = schema[key]
        if not isinstance(value, types):
            expected = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise RegistryError(f"{where}: entry {section}.{name}: key {key!r} must be {expected}, "
                                f"got {type(value).__name__}")
    for key, (required, _) in schema.items():
        if required and key not in data:
            raise RegistryError(f"{_where(path, lines, section, name)}: entry {section}.{name}: "
                                f"missing required key {key!r}")
    if section == "datasets" and data["task"] not in _TASKS:
        raise RegistryError(f"{_where(path, lines, section, name, 'task')}: entry {section}.{name}: "
                            f"key 'task' must be one of {sorted(_TASKS)}")
    if section == "pair_sets":
        sets = data.get("datasets", [])
        if not all(isinstance(d, str) for d in sets):
            raise RegistryError(f"{_where(path, lines, section, name, 'datasets')}: entry {section}.{name}: "
                                f"key 'datasets' must be a list of dataset names")
        if data["impl"] in ("product", "pairs") and not sets:
            raise RegistryError(f"{_where(path, lines, section, name)}: entry {section}.{name}: impl "
                                f"{data['impl']!r} needs a non-empty 'datasets' list")
    if section == "weights":
        if "." not in name:
            raise RegistryError(f"{_where(path, lines, section, name)}: weights entry {name!r} must be named 'model.tag'")
        if not data.get("dataset") and not (data.get("pretraining") or {}).get("cache_key"):
            raise RegistryError(f"{_where(path, lines, section, name)}: entry {section}.{name}: a trained model "
                                f"needs 'dataset'; only a pretrained backbone (pretraining.cache_key) has none")
        sha = data["sha256"]
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower()):
            raise RegistryError(f"{_where(path, lines, section, name, 'sha256')}: entry {section}.{name}: "
                                f"key 'sha256' must be 64 hex digits")


def load_registry(extra_files: list[tuple[str, str]] | None = None, strict_fragments: bool = False,
                  main: Path | None = None) -> Registry:
    """Load the main registry and plugin fragments ``(path, plugin)``; fragment conflicts are detected.

    A broken or conflicting fragment is skipped with a warning (the tool keeps working), unless
    ``strict_fragments`` is set; errors in the main registry always raise.
    """
    reg = Registry()
    main = main or default_registry_path()
    for section, entries in parse_registry_file(main).items():
        reg.sections[section].update(entries)
    reg.files.append(main)
    for path, plugin in extra_files or []:
        try:
            parsed = parse_registry_file(path)
            for section, entries in parsed.items():
                for name, entry in entries.items():
                    if name in reg.sections[section]:
                        other = reg.sections[section][name]
                        raise RegistryError(
                            f"{entry.source}: entry {section}.{name} (plugin {plugin!r}) conflicts with the entry "
                            f"of the same name in {other.source}" + (f", line {other.line}" if other.line else ""))
        except RegistryError as error:
            if strict_fragments:
                raise
            print(f"zoo: warning: registry fragment of plugin {plugin!r} skipped: {error}", file=sys.stderr)
            continue
        for section, entries in parsed.items():
            reg.sections[section].update(entries)
        reg.files.append(Path(path))
    return reg


_REGISTRY: Registry | None = None


def get_registry(reload: bool = False) -> Registry:
    """The process-wide registry: the main file plus every loaded plugin's fragments."""
    global _REGISTRY
    if _REGISTRY is None or reload:
        from zoo_core.plugins import _strict, check_listed, get_catalog

        catalog = get_catalog(reload=reload)
        registry = load_registry(catalog.registry_files, strict_fragments=_strict())
        check_listed(catalog, registry.sections)
        _REGISTRY = registry
    return _REGISTRY
