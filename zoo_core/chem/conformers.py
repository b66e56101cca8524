"""One seeded ETKDG conformer per molecule, cached on disk (METHODS §1.8, §10 item 16), for any model that needs
3D positions (3DMRL's pretraining, an encoder with ``requires_3d``; zoo_core.chem.positions aligns them with a
MolStore). Moved here from the 3DMRL plugin (issue 34) with the same cache folders and keys.

* The conformer is embedded on the Mol from ``zoo_core.chem.featurizers.prepare_mol(smiles, explicit_h)``, so
  atom i of the conformer is node i of the featurized 2D graph. With ``explicit_h=False`` the molecule is
  embedded with its hydrogens (``AddHs`` appends them after the heavy atoms) and only the heavy-atom rows are
  kept: a better geometry than embedding a bare heavy-atom graph.
* ETKDGv3, ``randomSeed = seed`` (deterministic), no force-field relaxation (as 3DMRL). Positions are centred on
  their centroid.
* Fallbacks, never a crash: ETKDG failure -> ETKDG with ``useRandomCoords`` -> RDKit 2D depiction
  (``Compute2DCoords``, z = 0) -> seeded Gaussian random coordinates (σ = 1 Å; only if RDKit cannot even depict
  the molecule). Every fallback is reported on stderr and recorded as the conformer's ``method``.
* Cache: ``ZOO_HOME/conformers/etkdg-v1-<H|noH>-seed<seed>/chunk-*.npz`` (numpy, read with
  ``allow_pickle=False``): arrays ``smiles`` (canonical SMILES, unicode), ``method``, ``ptr`` and ``pos``
  (float64). Chunks are written to a temp file and renamed, so concurrent runs never read half a chunk.
* Missing molecules are embedded in ``workers`` processes (``multiprocessing.Pool``; 0 or 1 = in this process)
  with a rich progress bar on stderr.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from zoo_core.paths import zoo_home

VERSION = "1"
METHODS = ("etkdg", "etkdg-random-coords", "2d", "random")


def cache_dir(explicit_h: bool, seed: int) -> Path:
    """The chunk folder of one (H mode, seed)."""
    return zoo_home() / "conformers" / f"etkdg-v{VERSION}-{'H' if explicit_h else 'noH'}-seed{int(seed)}"


def embed(smiles: str, explicit_h: bool, seed: int = 0) -> tuple[str, np.ndarray, str]:
    """(canonical SMILES, centred positions [n_atoms, 3] float64, method) of one molecule; see the module doc."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import AllChem

    from zoo_core.chem.featurizers import prepare_mol

    canonical, mol = prepare_mol(smiles, explicit_h)
    n = mol.GetNumAtoms()
    target = mol if explicit_h else Chem.AddHs(mol)
    pos, method = None, None
    with rdBase.BlockLogs():
        for random_coords in (False, True):
            try:
                params = AllChem.ETKDGv3()
                params.randomSeed = int(seed)
                params.useRandomCoords = random_coords
                if AllChem.EmbedMolecule(target, params) == 0:
                    pos = np.asarray(target.GetConformer().GetPositions(), dtype=np.float64)[:n]
                    method = "etkdg-random-coords" if random_coords else "etkdg"
                    break
            except Exception:  # noqa: BLE001 - RDKit raises assorted errors on odd inputs
                continue
        if pos is None:
            try:
                flat = Chem.Mol(mol)
                AllChem.Compute2DCoords(flat)
                pos = np.asarray(flat.GetConformer().GetPositions(), dtype=np.float64)[:n]
                pos[:, 2] = 0.0
                method = "2d"
            except Exception:  # noqa: BLE001
                pos = np.random.default_rng(int(seed)).normal(size=(n, 3))
                method = "random"
    if pos.shape != (n, 3) or not np.isfinite(pos).all():
        pos, method = np.random.default_rng(int(seed)).normal(size=(n, 3)), "random"
    return canonical, pos - pos.mean(axis=0, keepdims=True), method


def _embed_task(args):
    key, explicit_h, seed = args
    _, pos, method = embed(key, explicit_h, seed)
    return key, pos, method


def _read_cache(folder: Path, wanted: set[str]) -> dict[str, tuple[np.ndarray, str]]:
    found: dict[str, tuple[np.ndarray, str]] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("chunk-*.npz")):
        with np.load(path, allow_pickle=False) as f:
            smiles = [str(s) for s in f["smiles"]]
            if not wanted.intersection(smiles):
                continue
            pos, ptr, method = f["pos"], f["ptr"], [str(m) for m in f["method"]]
        for i, s in enumerate(smiles):
            if s in wanted and s not in found:
                found[s] = (pos[ptr[i]:ptr[i + 1]].copy(), method[i])
    return found


def _write_cache(folder: Path, items: dict[str, tuple[np.ndarray, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    smiles = list(items)
    sizes = np.array([items[s][0].shape[0] for s in smiles], dtype=np.int64)
    arrays = {"smiles": np.array(smiles, dtype=np.str_), "method": np.array([items[s][1] for s in smiles], dtype=np.str_),
              "ptr": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
              "pos": np.concatenate([items[s][0] for s in smiles]).astype(np.float64)}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-chunk-")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, folder / f"chunk-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.npz")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_conformers(smiles: list[str], explicit_h: bool, seed: int = 0, workers: int | None = None,
                     use_cache: bool = True, progress: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Conformers of ``smiles`` keyed by canonical SMILES, and stats.

    Stats: ``embedded`` (newly embedded), ``from_cache``, ``fallback`` ({canonical: method} for every conformer
    that is not a plain ETKDG one), ``unparsable`` (inputs RDKit cannot read; they get no conformer) and
    ``seconds`` (wall time of this call, cache reads included).
    """
    from zoo_core.chem.featurizers import canonical_smiles
    from zoo_core.console import track, warn

    t0 = time.perf_counter()
    unparsable = []
    canon: list[str] = []
    for s in dict.fromkeys(smiles):
        c = canonical_smiles(s)
        if c is None:
            unparsable.append(s)
        else:
            canon.append(c)
    canon = list(dict.fromkeys(canon))
    folder = cache_dir(explicit_h, seed)
    found = _read_cache(folder, set(canon)) if use_cache else {}
    missing = [c for c in canon if c not in found]
    new: dict[str, tuple[np.ndarray, str]] = {}
    if missing:
        tasks = [(c, bool(explicit_h), int(seed)) for c in missing]
        n_workers = min(4, os.cpu_count() or 1) if workers is None else int(workers)
        for c, pos, method in track(_run(tasks, n_workers), len(tasks),
                                    f"embedding {len(tasks)} conformers (ETKDG, seed {seed})", progress):
            new[c] = (pos, method)
        if use_cache:
            _write_cache(folder, new)
        found.update(new)
    fallback = {c: m for c, (_, m) in found.items() if m != "etkdg"}
    for c, m in fallback.items():
        if c in new:
            warn(f"conformer of {c}: ETKDG failed, used the {m!r} fallback")
    stats = {"embedded": len(new), "from_cache": len(canon) - len(missing), "fallback": fallback,
             "unparsable": unparsable, "seconds": round(time.perf_counter() - t0, 3)}
    return {c: found[c][0] for c in canon}, stats


def _run(tasks, n_workers):
    if n_workers <= 1 or len(tasks) < 2:
        for t in tasks:
            yield _embed_task(t)
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(min(n_workers, len(tasks))) as pool:
        yield from pool.imap_unordered(_embed_task, tasks, chunksize=max(1, min(64, len(tasks) // (4 * n_workers))))
