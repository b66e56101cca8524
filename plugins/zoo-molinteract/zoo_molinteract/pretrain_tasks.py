"""MolInteract's predictive pretraining tasks (METHODS §8.2): which tower reads them, how atom states form the
tuple embedding, the head's output width and loss, and how one molecule's examples are drawn.

The 2D tower predicts 3D quantities (distance, bond angle, dihedral bin), the 3D tower 2D quantities (bond
existence, bond type, shortest-path distance, eigenvector-centrality rank). Pairs are embedded by the sum of
their atoms' states (order-free), angles and dihedrals by concatenation; the centrality rank asks which atom of an
*ordered* pair is more central, so its pair is concatenated (a sum cannot tell a from b: a fix, §10).

Profiles: ``shipped`` = the original pretrain.sh (distance + angle; bond existence + bond type), ``paper`` adds the
abstract's dihedral bins, shortest-path distance and centrality rank (§8.4 item 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from zoo_molinteract import pretrain_labels as L

N_BOND_TYPES = 4   # OGB's SINGLE, DOUBLE, TRIPLE, AROMATIC; a bond in the misc slot is left out of the task

PROFILES: dict[str, tuple[str, ...]] = {
    "shipped": ("distance", "angle", "bond_existence", "bond_type"),
    "paper": ("distance", "angle", "dihedral", "bond_existence", "bond_type", "spd", "centrality"),
}


class Molecule(NamedTuple):
    """One molecule as the labelers see it: atom count, unique bonds [B, 2] (i < j), their OGB types, positions."""

    n: int
    bonds: np.ndarray
    bond_types: np.ndarray
    pos: np.ndarray


Examples = tuple[np.ndarray, np.ndarray]   # (local atom tuples [M, arity], labels [M])


def sample_pairs(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` ordered pairs (i, j), i ≠ j, uniform with replacement; none for a single atom."""
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    i = rng.integers(n, size=k)
    return np.stack([i, (i + rng.integers(1, n, size=k)) % n], axis=1)


def distance_examples(mol: Molecule, rng, cfg: dict) -> Examples:
    pairs = sample_pairs(mol.n, int(cfg["sampled_pairs"]), rng)
    return pairs, np.linalg.norm(mol.pos[pairs[:, 0]] - mol.pos[pairs[:, 1]], axis=-1)


def angle_examples(mol: Molecule, rng, cfg: dict) -> Examples:
    triplets = L.angle_triplets(mol.n, mol.bonds)
    return triplets, L.bond_angles(mol.pos, triplets)


def dihedral_examples(mol: Molecule, rng, cfg: dict) -> Examples:
    quads = L.dihedral_quadruplets(mol.n, mol.bonds)
    return quads, L.dihedral_bins(L.dihedrals(mol.pos, quads), int(cfg["dihedral_bins"]))


def bond_existence_examples(mol: Molecule, rng, cfg: dict) -> Examples:
    """Every bond (label 1) and ``negatives`` non-bonded pairs drawn with replacement (label 0)."""
    i, j = np.triu_indices(mol.n, 1)
    bonded = np.zeros((mol.n, mol.n), dtype=bool)
    bonded[mol.bonds[:, 0], mol.bonds[:, 1]] = True
    free = np.stack([i, j], axis=1)[~bonded[i, j]]
    negatives = free[rng.integers(len(free), size=int(cfg["negatives"]))] if len(free) else free
    pairs = np.concatenate([mol.bonds, negatives]).astype(np.int64)
    return pairs, np.concatenate([np.ones(len(mol.bonds)), np.zeros(len(negatives))])


def bond_type_examples(mol: Molecule, rng, cfg: dict) -> Examples:
    known = mol.bond_types < N_BOND_TYPES
    return mol.bonds[known], mol.bond_types[known]


def spd_examples(mol: Molecule, rng, cfg: dict) -> Examples:
    pairs = sample_pairs(mol.n, int(cfg["sampled_pairs"]), rng)
    hops = L.shortest_paths(mol.n, mol.bonds, int(cfg["max_spd"]))
    return pairs, hops[pairs[:, 0], pairs[:, 1]]


def centrality_examples(mol: Molecule, rng, cfg: dict) -> Examples:
    pairs = sample_pairs(mol.n, int(cfg["sampled_pairs"]), rng)
    score = L.eigenvector_centrality(mol.n, mol.bonds)
    return pairs, L.rank_classes(score, pairs, float(cfg["centrality_tie"]))


@dataclass(frozen=True)
class Task:
    """``tower`` whose block states it reads, ``combine`` (sum | cat) of the tuple's atom states, ``arity``,
    ``loss`` (mse | bce | ce), ``outputs(cfg)`` the head's width, ``examples(mol, rng, cfg)``."""

    tower: str
    arity: int
    combine: str
    loss: str
    outputs: Callable[[dict], int]
    examples: Callable[[Molecule, np.random.Generator, dict], Examples]


TASKS: dict[str, Task] = {
    "distance": Task("2d", 2, "sum", "mse", lambda cfg: 1, distance_examples),
    "angle": Task("2d", 3, "cat", "mse", lambda cfg: 1, angle_examples),
    "dihedral": Task("2d", 4, "cat", "ce", lambda cfg: int(cfg["dihedral_bins"]), dihedral_examples),
    "bond_existence": Task("3d", 2, "sum", "bce", lambda cfg: 1, bond_existence_examples),
    "bond_type": Task("3d", 2, "sum", "ce", lambda cfg: N_BOND_TYPES, bond_type_examples),
    "spd": Task("3d", 2, "sum", "ce", lambda cfg: int(cfg["max_spd"]) + 1, spd_examples),
    "centrality": Task("3d", 2, "cat", "ce", lambda cfg: 3, centrality_examples),
}


def profile_tasks(profile: str, towers: str) -> tuple[str, ...]:
    """The profile's tasks whose tower the encoder has (towers=2d: the 2D tasks only)."""
    if profile not in PROFILES:
        raise ValueError(f"molinteract pretraining: profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    return tuple(t for t in PROFILES[profile] if towers == "both" or TASKS[t].tower == towers)


def task_blocks(tasks: tuple[str, ...], blocks: list[int]) -> dict[str, int]:
    """Block read by each task: the k-th task of a tower reads ``blocks[k mod len(blocks)]`` (§8.2: the original's
    ``pretrain_2d_task_indices`` / ``_3d_``, default [0, 1])."""
    out, seen = {}, {"2d": 0, "3d": 0}
    for name in tasks:
        tower = TASKS[name].tower
        out[name] = int(blocks[seen[tower] % len(blocks)])
        seen[tower] += 1
    return out
