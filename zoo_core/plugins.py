"""Plugin manager: loads entry points of group ``zoo`` one at a time and collects what they register.

A plugin that fails to import or to register is skipped with a one-line warning naming it;
``ZOO_STRICT_PLUGINS=1`` raises instead, and ``ZOO_DISABLE_PLUGINS=a,b`` skips plugins by name
(entry-point name or distribution name). ``check_pending()`` catches misspelled hook names, and
:func:`check_listed` a factory registered without a registry entry.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from zoo_core import hookspecs
from zoo_core.errors import PluginError

KINDS = ("encoders", "pair_models", "pretrainers", "datasets", "featurizers")
_HOOK_OF_KIND = {kind: f"zoo_register_{kind}" for kind in KINDS}


@dataclass
class Registration:
    """One named implementation: a callable or a lazy ``"module:attr"`` reference, and who registered it."""

    name: str
    kind: str
    target: Any
    plugin: str

    def load(self) -> Callable:
        """Import (if lazy) and return the registered callable."""
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return obj
        return self.target


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Catalog:
    """Everything the loaded plugins registered."""

    implementations: dict[str, dict[str, Registration]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    registry_files: list[tuple[str, str]] = field(default_factory=list)  # (path, plugin)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (plugin, reason)
    pm: pluggy.PluginManager | None = None

    def get(self, kind: str, name: str) -> Registration:
        """The registration of ``name`` among ``kind``; a KeyError lists what is available."""
        table = self.implementations[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise KeyError(f"no {kind[:-1].replace('_', ' ')} implementation named {name!r} (known: {known})")
        return table[name]


def _warn(message: str) -> None:
    """One line on stderr, whatever the error's own formatting."""
    print("zoo: warning: " + " ".join(str(message).split()), file=sys.stderr)


def _strict() -> bool:
    return os.environ.get("ZOO_STRICT_PLUGINS", "").strip() not in {"", "0", "false", "no"}


def _disabled() -> set[str]:
    return {x.strip() for x in os.environ.get("ZOO_DISABLE_PLUGINS", "").split(",") if x.strip()}


def _fail(catalog: Catalog, plugin: str, error: BaseException) -> None:
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    if _strict():
        raise PluginError(f"plugin {plugin!r} failed: {reason}") from error
    catalog.skipped.append((plugin, reason))
    _warn(f"plugin {plugin!r} skipped ({reason}); set ZOO_STRICT_PLUGINS=1 to raise")


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the zoo's hookspecs and nothing registered."""
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    return pm


def load_catalog(extra_plugins: list[tuple[str, Any]] | None = None) -> Catalog:
    """Load every ``zoo`` entry point (plus ``extra_plugins`` as ``(name, module)``) and collect registrations."""
    catalog = Catalog()
    pm = make_plugin_manager()
    catalog.pm = pm
    disabled = _disabled()
    candidates: list[tuple[str, str, str, Callable[[], Any]]] = []
    for ep in sorted(entry_points(group="zoo"), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "?"
        version = ep.dist.version if ep.dist is not None else "?"
        candidates.append((ep.name, dist, version, ep.load))
    for name, module in extra_plugins or []:
        candidates.append((name, name, "local", lambda module=module: module))
    for name, dist, version, loader in candidates:
        if name in disabled or dist in disabled:
            continue
        try:
            module = loader()
            pm.register(module, name=name)
        except Exception as error:  # a broken plugin must not break the tool
            _fail(catalog, name, error)
            continue
        catalog.plugins[name] = PluginInfo(name=name, distribution=dist, version=version)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        plugin = getattr(error, "plugin", None)
        bad = pm.get_name(plugin) if plugin is not None else "?"
        if _strict():
            raise PluginError(f"plugin {bad!r}: {error}") from error
        _warn(f"plugin {bad!r}: {error}")
    for kind in KINDS:
        _collect(catalog, pm, kind)
    _collect_files(catalog, pm)
    for name, info in catalog.plugins.items():
        plugin = pm.get_plugin(name)
        if plugin is not None:
            info.hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
    return catalog


def _collect(catalog: Catalog, pm: pluggy.PluginManager, kind: str) -> None:
    hook = getattr(pm.hook, _HOOK_OF_KIND[kind])
    table = catalog.implementations[kind]
    for impl in reversed(hook.get_hookimpls()):  # registration order
        plugin = impl.plugin_name
        staged: list[Registration] = []

        def register(name: str, target: Any, _plugin=plugin, _staged=staged) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{_plugin}: registered a {kind[:-1]} without a name")
            _staged.append(Registration(name=name, kind=kind, target=target, plugin=_plugin))

        try:
            impl.function(register=register)
        except Exception as error:
            _fail(catalog, plugin, error)
            continue
        for reg in staged:
            if reg.name in table and table[reg.name].plugin != plugin:
                message = (f"{kind[:-1]} {reg.name!r} registered by both {table[reg.name].plugin!r} "
                           f"and {plugin!r}; keeping {table[reg.name].plugin!r}")
                if _strict():
                    raise PluginError(message)
                _warn(message)
                continue
            table[reg.name] = reg
            if plugin in catalog.plugins:
                catalog.plugins[plugin].registered.setdefault(kind, []).append(reg.name)


def _collect_files(catalog: Catalog, pm: pluggy.PluginManager) -> None:
    for impl in reversed(pm.hook.zoo_registry_files.get_hookimpls()):
        plugin = impl.plugin_name
        try:
            impl.function(register=lambda path, _p=plugin: catalog.registry_files.append((str(path), _p)))
        except Exception as error:
            _fail(catalog, plugin, error)


# a registry entry's minimal keys, per kind of factory, for the message that names the fix
_ENTRY_EXAMPLE = {"encoders": "featurizer: mrl56", "pair_models": "default_encoder: mpnn", "pretrainers": "target: pair"}


def check_listed(catalog: Catalog, sections: dict[str, dict]) -> None:
    """Warn about each encoder, pair model or pretrainer a plugin registers that no registry entry names as its
    ``impl`` (``zoo list``, ``zoo info`` and ``zoo run`` know entries, not factories), naming the fix; raise a
    PluginError instead under ``ZOO_STRICT_PLUGINS=1``. No entry is derived: a guessed featurizer or parameters
    would train a model other than the one its author meant."""
    for kind, example in _ENTRY_EXAMPLE.items():
        named = {entry["impl"] for entry in sections[kind].values()}
        for name, reg in sorted(catalog.implementations[kind].items()):
            if name in named:
                continue
            info = catalog.plugins.get(reg.plugin)
            dist = info.distribution if info is not None else reg.plugin
            message = (f"plugin {reg.plugin!r} registers {kind[:-1].replace('_', ' ')} {name!r}, but no registry "
                       f"entry names it, so zoo list, info and run cannot use it. Fix: ship a registry fragment in "
                       f"its package ({kind}: {{{name}: {{impl: {name}, plugin: {dist}, {example}}}}}), register it "
                       f"with a zoo_registry_files hook and list it as package data in pyproject.toml "
                       f"([tool.setuptools.package-data]); `zoo plugin new` writes all three (docs/PLUGINS.md)")
            if _strict():
                raise PluginError(message)
            _warn(message + "; set ZOO_STRICT_PLUGINS=1 to raise")


_CATALOG: Catalog | None = None


def get_catalog(reload: bool = False) -> Catalog:
    """The process-wide catalog, loaded on first use."""
    global _CATALOG
    if _CATALOG is None or reload:
        _CATALOG = load_catalog()
    return _CATALOG
