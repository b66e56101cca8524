"""Composition: resolve ``--encoder/--pair-model`` names through the registry and build the model.

Resolution (ARCHITECTURE §2): a pair-model name gives that model with its registry default encoder; an encoder
name gives late_fusion over that encoder; ``pair_model`` overrides. For a one-role (molecule) dataset an encoder
name gives the ``molecule`` model over it (encoder + readout + head), and a two-molecule pair model is refused. The resolved description is a plain dict
(``model spec``) saved in run directories and weight files, from which ``build_model`` rebuilds the model.
"""

from __future__ import annotations

from typing import Any

from zoo_core.errors import RegistryError, UsageError, ZooError
from zoo_core.registry import Registry, get_registry

DEFAULT_PAIR_MODEL = "late_fusion"
DEFAULT_MOLECULE_MODEL = "molecule"


def model_roles(entry) -> int:
    """How many molecules a pair-models entry takes (``roles``, default 2)."""
    return int(entry.get("roles") or 2)


def roles_of(spec_or_name) -> int:
    """How many molecules per row a model takes: a model spec, or a pair-models entry name (2 when unknown)."""
    name = spec_or_name["pair_model"] if isinstance(spec_or_name, dict) else spec_or_name
    entry = get_registry().sections["pair_models"].get(name)
    return model_roles(entry) if entry is not None else 2


def resolve_names(encoder: str, pair_model: str | None = None, registry: Registry | None = None,
                  roles: int = 2) -> tuple[str, str]:
    """(pair model name, encoder name) for the CLI's ``--encoder`` and ``--pair-model`` on a dataset of ``roles``
    molecules per row."""
    reg = registry or get_registry()
    pm, enc = _resolve(encoder, pair_model, reg, roles)
    wanted = model_roles(reg.sections["pair_models"][pm])
    if wanted != roles:
        kind = {1: "a single-molecule", 2: "a two-molecule"}
        raise RegistryError(f"{pm!r} is {kind.get(wanted, str(wanted))} model and the dataset has {roles} molecule(s) "
                            f"per row; " + ("pass an encoder name (e.g. --encoder mpnn) for a molecule dataset"
                                            if roles == 1 else "choose a pair model (see `zoo list pair-models`)"))
    return pm, enc


def _resolve(encoder: str, pair_model: str | None, reg: Registry, roles: int) -> tuple[str, str]:
    if pair_model is not None:
        reg.entry("pair_models", pair_model)
        if encoder in reg.sections["pair_models"]:
            encoder = reg.sections["pair_models"][encoder].get("default_encoder") or encoder
        reg.entry("encoders", encoder)
        return pair_model, encoder
    if encoder in reg.sections["pair_models"]:
        entry = reg.sections["pair_models"][encoder]
        default = entry.get("default_encoder")
        if not default:
            raise RegistryError(f"{entry.source}: pair model {encoder!r} has no default_encoder; pass --encoder too")
        reg.entry("encoders", default)
        return encoder, default
    if encoder in reg.sections["encoders"]:
        return (DEFAULT_MOLECULE_MODEL if roles == 1 else DEFAULT_PAIR_MODEL), encoder
    known = sorted(set(reg.sections["encoders"]) | set(reg.sections["pair_models"]))
    raise RegistryError(f"no encoder or pair model named {encoder!r} (known: {', '.join(known)})")


def model_spec(encoder: str, pair_model: str | None = None, featurizer: str | None = None,
               encoder_params: dict | None = None, pair_params: dict | None = None, n_tasks: int = 1,
               task: str = "regression", explicit_h: bool = False, registry: Registry | None = None,
               roles: int = 2, scale_targets: bool = False, tasks: list[str] | None = None,
               dataset_featurizer: str | None = None, symmetric_task: bool = False,
               dataset_pair_params: dict | None = None) -> dict[str, Any]:
    """The full, resolved description of a model: names, parameters and featurizer spec.

    ``scale_targets`` (regression) gives the model a target scaler (:mod:`zoo_core.nn.scaler`); ``tasks`` names
    the outputs. Both keys enter the spec only when set, so the specs (and pretraining cache keys) of the
    paper-protocol runs stay what they were. The featurizer is ``featurizer`` if given, else the pair model's,
    else ``dataset_featurizer`` (a dataset entry's ``model_featurizer``: DDI's chemprop133), else the encoder's.
    ``symmetric_task`` (a dataset entry's ``symmetric: true``, DDI) sets ``symmetric=true`` on a pair model that
    offers it (late_fusion, CIGIN, CGIB) unless ``pair_params`` says otherwise. ``dataset_pair_params`` (a dataset
    entry's ``pair_params``, by pair model name: CGIB's beta = 1e-4 on DDI, METHODS §6.2) sit between the pair model's
    registry defaults and ``pair_params``."""
    from zoo_core.chem.resolve import featurizer_spec

    reg = registry or get_registry()
    pm_name, enc_name = resolve_names(encoder, pair_model, reg, roles)
    enc_entry, pm_entry = reg.entry("encoders", enc_name), reg.entry("pair_models", pm_name)
    featurizer = featurizer or pm_entry.get("featurizer") or dataset_featurizer or enc_entry["featurizer"]
    spec = featurizer_spec(featurizer, explicit_h)
    pair_params = {**((dataset_pair_params or {}).get(pm_name) or {}), **(pair_params or {})}
    if symmetric_task and "symmetric" not in pair_params and _offers(pm_entry["impl"], "symmetric"):
        pair_params = {**pair_params, "symmetric": True}
    out = {
        "pair_model": pm_name, "pair_impl": pm_entry["impl"], "pair_params": {**pm_entry.params, **pair_params},
        "encoder": enc_name, "encoder_impl": enc_entry["impl"],
        "encoder_params": {**enc_entry.params, **(encoder_params or {})},
        "featurizer": spec, "n_tasks": n_tasks, "task": task,
    }
    if scale_targets:
        if task != "regression":
            raise ZooError("scale_targets applies to regression targets only")
        out["scale_targets"] = True
    if tasks is not None and (len(tasks) != 1 or n_tasks != 1):
        if len(tasks) != n_tasks:
            raise ZooError(f"{len(tasks)} task names for {n_tasks} task(s)")
        out["tasks"] = list(tasks)
    return out


def _offers(pair_impl: str, param: str) -> bool:
    """Does the pair model registered as ``pair_impl`` take the keyword ``param``?"""
    import inspect

    from zoo_core.plugins import get_catalog

    try:
        cls = get_catalog().get("pair_models", pair_impl).load()
    except KeyError:
        return False
    return param in inspect.signature(cls.__init__).parameters


def build_model(spec: dict[str, Any]):
    """Instantiate the model a spec describes (fresh weights)."""
    from zoo_core.plugins import get_catalog

    catalog = get_catalog()
    try:
        encoder_cls = catalog.get("encoders", spec["encoder_impl"]).load()
        pair_cls = catalog.get("pair_models", spec["pair_impl"]).load()
    except KeyError as error:
        raise RegistryError(f"{error.args[0]}; is the plugin that provides it installed? (see `zoo plugins`)") from None
    feat = spec["featurizer"]

    def encoder_factory():
        return encoder_cls(in_dim=feat["atom_dim"], edge_dim=feat["bond_dim"], **spec["encoder_params"])

    try:
        model = pair_cls(encoder_factory, n_tasks=spec["n_tasks"], **spec["pair_params"])
    except (TypeError, ValueError) as error:  # an unknown parameter or a value the model refuses
        raise UsageError(f"{spec['pair_model']}({spec['encoder']}): {error} (pair-model params "
                         f"{spec['pair_params']}, encoder params {spec['encoder_params']}; see `zoo info "
                         f"{spec['pair_model']}`)") from error
    if spec.get("scale_targets"):
        from zoo_core.nn.scaler import attach_target_scaler

        attach_target_scaler(model, spec["n_tasks"])
    return model
