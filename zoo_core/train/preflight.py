"""The check ``zoo run`` makes after reading and featurizing the data and before creating its run directory, so that
a run that cannot train leaves nothing behind: the usable rows (bad rows skipped) must be enough for the split
protocol, and every fold of the first repeat must have rows to train, validate and test on. A DDI positives set (an
entry with ``negatives``) draws its folds together with its negatives (:mod:`zoo_core.data.ddi`) and is not checked
here; a full-data run (no split) needs one usable row."""

from __future__ import annotations

from zoo_core.errors import InputError

_PARTS = ("train", "validation", "test")


def min_rows(protocol: str, n_folds: int) -> int | None:
    """The fewest rows ``protocol`` can split: 2 per fold for mi5fold (each held-out fold gives one row to validate
    and one to test), 8 for the 80/10/10 random split; None where it depends on the groups (scaffold, molecule,
    solvent)."""
    return {"mi5fold": 2 * n_folds, "random": 8}.get(protocol)


def check_enough_rows(cfg: dict, entry, dataset) -> None:
    """InputError naming the dataset, the usable rows and the rows needed when ``cfg``'s split cannot be made."""
    from zoo_core.data.splits import make_splits

    if entry.get("negatives"):
        return
    if cfg.get("full_data"):  # every usable row trains: no split to make
        if len(dataset) == 0:
            raise InputError(f"{cfg['dataset']}: no usable row to train on ({len(dataset.bad)} bad row(s) skipped)")
        return
    n, protocol, n_folds = len(dataset), str(cfg["split"]), int(cfg["folds"])
    skipped = f" ({len(dataset.bad)} bad row(s) skipped)" if dataset.bad else ""
    have = f"{cfg['dataset']}: {n} usable row(s){skipped}"
    what = f"{n_folds}-fold cross-validation (mi5fold)" if protocol == "mi5fold" else f"the {protocol} split"
    need = min_rows(protocol, n_folds)
    if need is not None and n < need:
        raise InputError(f"{have} are too few for {what}: it needs at least {need}")
    try:
        folds = make_splits(protocol, n, int(cfg["seed"]), dataset.table.a, dataset.table.b, n_folds=n_folds,
                            held_out=cfg.get("held_out"))
    except ValueError as error:
        raise InputError(f"{cfg['dataset']}: {error}") from None
    for k, rows in enumerate(folds):
        empty = [part for part, idx in zip(_PARTS, rows) if len(idx) == 0]
        if empty:
            raise InputError(f"{have}: fold {k} of {what} would have no {' and no '.join(empty)} rows; add rows "
                             f"or choose another --split")
