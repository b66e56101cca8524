"""``zoo list``, ``zoo info`` and ``zoo plugins``: what the registry and the installed plugins offer.

``list`` and ``plugins`` read only entry-point metadata and YAML (no torch, dgl or rdkit).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Optional

import typer

from zoo_cli.app import app, fail, print_json
from zoo_core.errors import ZooError


SECTION_NAMES = {"encoders": "encoders", "pair-models": "pair_models", "pair_models": "pair_models",
                 "pretrainers": "pretrainers", "pair-sets": "pair_sets", "pair_sets": "pair_sets",
                 "datasets": "datasets", "weights": "weights"}


def _available(section: str, entry, catalog) -> bool:
    kind = {"encoders": "encoders", "pair_models": "pair_models", "pretrainers": "pretrainers",
            "datasets": "datasets"}.get(section)
    if kind is None:
        return True
    return entry.get("impl") in catalog.implementations[kind]


@app.command("list")
def list_cmd(
    section: Optional[str] = typer.Argument(None, help="encoders | pair-models | pretrainers | pair-sets | datasets | "
                                                         "weights, or a name pattern"),
    pattern: str = typer.Argument("*", help="fnmatch pattern, e.g. 'cigin*'"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """List catalogue entries (wildcards allowed)."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import SECTIONS, get_registry

    if section is not None and section not in SECTION_NAMES:
        section, pattern = None, section
    sections = [SECTION_NAMES[section]] if section else list(SECTIONS)
    try:
        reg, catalog = get_registry(), get_catalog()
    except ZooError as error:
        fail(error)
    rows = []
    for s in sections:
        for e in reg.list(s, pattern):
            rows.append({"section": s, "name": e.name, "impl": e.get("impl"), "plugin": e.get("plugin"),
                         "available": _available(s, e, catalog), "description": e.get("description", "")})
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no entries match {pattern!r}")
        return
    width = max(len(r["name"]) for r in rows)
    current = None
    for r in rows:
        if r["section"] != current:
            current = r["section"]
            typer.echo(f"{current.replace('_', '-')}:")
        flag = "" if r["available"] else f"  [not installed: pip install {r['plugin']}]"
        text = " ".join(str(r["description"]).split())
        if r["section"] == "pair_sets":
            e = reg.sections["pair_sets"][r["name"]]
            text = f"[{'transductive' if e['transductive'] else 'inductive'}] {text}"
        room = max(20, shutil.get_terminal_size((120, 20)).columns - width - 4 - len(flag))
        text = text if len(text) <= room else text[: room - 1] + "…"
        typer.echo(f"  {r['name']:<{width}}  {text}{flag}")


@app.command("info")
def info_cmd(name: str = typer.Argument(..., help="an entry name, e.g. attentivefp or cigin.compsol"),
             as_json: bool = typer.Option(False, "--json")):
    """Show an entry: parameters, featurizer, paper, source plugin (and metrics, sha256 for weights)."""
    from zoo_core.plugins import get_catalog
    from zoo_core.registry import get_registry

    reg, catalog = get_registry(), get_catalog()
    entries = reg.find(name)
    if not entries:
        fail(f"no entry named {name!r}; try `zoo list '*{name}*'`")
    out = []
    for e in entries:
        if e.section == "weights":
            out.append(_weights_record(e))
            continue
        record = {"name": e.name, "section": e.section, **e.data, "registry_file": str(e.source)}
        kind = e.section if e.section in ("encoders", "pair_models", "pretrainers", "datasets") else None
        if kind and e.get("impl") in catalog.implementations.get(kind, {}):
            reg_ = catalog.implementations[kind][e["impl"]]
            info = catalog.plugins.get(reg_.plugin)
            record["registered_by"] = {"plugin": reg_.plugin, "distribution": info.distribution if info else None,
                                       "version": info.version if info else None,
                                       "target": reg_.target if isinstance(reg_.target, str) else repr(reg_.target)}
        elif kind:
            record["registered_by"] = None
        if e.section == "encoders":
            record["featurizer_spec"] = _featurizer_spec(e["featurizer"])
        out.append(record)
    if as_json:
        print_json(out if len(out) > 1 else out[0])
        return
    import yaml

    for record in out:
        card = record.pop("card", None) if record["section"] == "weights" else None
        typer.echo(yaml.safe_dump(record, sort_keys=False, default_flow_style=False, allow_unicode=True,
                                  width=110).rstrip())
        if card:
            typer.echo("card: |")
            typer.echo("\n".join(("  " + line).rstrip() for line in str(card).rstrip().splitlines()))


def _human_size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def _weights_record(e) -> dict:
    """A weights entry for `zoo info`: the registry keys in a reading order, the size in words, where the file is."""
    import urllib.parse

    from zoo_core.hub import cached_path

    data = dict(e.data)
    first = ("description", "model", "encoder", "pair_model", "pretrainer", "dataset", "metrics", "training",
             "pretraining", "featurizer", "license", "paper", "citation", "sha256", "size_bytes", "url")
    record: dict[str, Any] = {"name": e.name, "section": e.section}
    record.update({k: data.pop(k) for k in first if k in data})
    if isinstance(record.get("size_bytes"), int):  # the size in words next to the hash, the byte count after it
        record = {**{k: v for k, v in record.items() if k not in ("size_bytes", "url")},
                  "size": _human_size(record["size_bytes"]), "size_bytes": record["size_bytes"],
                  **({"url": record["url"]} if "url" in record else {})}
    url = str(record.get("url", ""))
    where = []
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https", "file"):
        local = Path(url).expanduser()
        local = local if local.is_absolute() else Path(e.source).resolve().parent / local
        where.append(f"local file {local}" + ("" if local.is_file() else " (missing)"))
    cached = cached_path("weights", f"{e.name}.safetensors")
    if cached.is_file():
        where.append(f"cached {cached}")
    record["file"] = "; ".join(where) or f"not downloaded yet (`zoo download {e.name}` fetches {url})"
    record.update(data)  # anything else, card last
    record["registry_file"] = str(e.source)
    if "card" in record:
        record["card"] = record.pop("card")
    return record


def _featurizer_spec(name: str) -> dict | str:
    """Dimensions of a featurizer (imports rdkit; only for `zoo info`)."""
    try:
        from zoo_core.chem.resolve import get_featurizer

        f = get_featurizer(name)
        return {"name": f.name, "version": f.version, "atom_dim": f.atom_dim, "bond_dim": f.bond_dim}
    except Exception as error:  # info must still print
        return f"unavailable ({error})"


@app.command("plugins")
def plugins_cmd(as_json: bool = typer.Option(False, "--json")):
    """Installed plugins: name, distribution, version, hooks and what each registered."""
    from zoo_core.plugins import get_catalog

    catalog = get_catalog()
    rows = [{"name": p.name, "distribution": p.distribution, "version": p.version, "hooks": p.hooks,
             "registered": p.registered} for p in catalog.plugins.values()]
    rows += [{"name": n, "skipped": reason} for n, reason in catalog.skipped]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        if "skipped" in r:
            typer.echo(f"{r['name']}: SKIPPED ({r['skipped']})")
            continue
        what = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["registered"].items()) or "-"
        typer.echo(f"{r['name']} ({r['distribution']} {r['version']}): {what}")
