"""Labels of MolInteract's pretraining tasks for one molecule (METHODS §8.2), from its bonds and positions.

Atom tuples are local atom indices; ``bonds`` are the unique undirected bonds ``[B, 2]`` (i < j).

* bond angles: every (src, anchor, dst) with both atoms bonded to the anchor, src < dst; label angle / π ∈ [0, 1].
  (The original shadows its loop variables and loses triplets, §10 item 14; here all are enumerated.)
* dihedrals: every i–j–k–l over a bond (j, k) with i a neighbour of j and l one of k (i, l, j, k distinct);
  the signed torsion x = φ / π ∈ [−1, 1] in ``K`` bins, class ⌊(x + 1) / 2 · K⌋ (the last bin closed), K = 18 for
  20° bins. The original maps (x + 1) · 20 and clamps, putting every x ≥ −0.05 in bin 19 (§10 item 14).
* shortest-path distance: hops over the bonds, disconnected pairs (and paths of ``max_spd`` or more hops) set to
  ``max_spd`` (63), as the original's Floyd–Warshall.
* eigenvector centrality: the Perron eigenvector of the adjacency matrix, unit L2 norm (networkx's
  ``eigenvector_centrality`` at convergence, computed exactly); a pair (a, b) is class 0 when a is more central by
  more than ``tie``, 1 when b is, 2 otherwise (a tie).
"""

from __future__ import annotations

import numpy as np


def neighbours(n_atoms: int, bonds: np.ndarray) -> list[list[int]]:
    adjacency: list[list[int]] = [[] for _ in range(n_atoms)]
    for i, j in bonds.tolist():
        adjacency[i].append(j)
        adjacency[j].append(i)
    return adjacency


def angle_triplets(n_atoms: int, bonds: np.ndarray) -> np.ndarray:
    """[T, 3] rows (src, anchor, dst), src < dst, both bonded to the anchor."""
    rows = [(a, j, b) for j, nbrs in enumerate(neighbours(n_atoms, bonds)) for a in nbrs for b in nbrs if a < b]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def bond_angles(pos: np.ndarray, triplets: np.ndarray) -> np.ndarray:
    """Angle at the anchor, divided by π."""
    v1 = pos[triplets[:, 0]] - pos[triplets[:, 1]]
    v2 = pos[triplets[:, 2]] - pos[triplets[:, 1]]
    return np.arctan2(np.linalg.norm(np.cross(v1, v2), axis=-1), (v1 * v2).sum(-1)) / np.pi


def dihedral_quadruplets(n_atoms: int, bonds: np.ndarray) -> np.ndarray:
    """[Q, 4] rows (i, j, k, l) over each bond (j, k) once."""
    nbrs = neighbours(n_atoms, bonds)
    rows = [(i, j, k, l) for j, k in bonds.tolist() for i in nbrs[j] if i != k for l in nbrs[k] if l not in (j, i)]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def dihedrals(pos: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Signed torsion angle i–j–k–l (IUPAC sign, as RDKit's GetDihedralRad), divided by π."""
    p0, p1, p2, p3 = (pos[quads[:, c]] for c in range(4))
    b1, b2, b3 = p1 - p0, p2 - p1, p3 - p2
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    y = np.linalg.norm(b2, axis=-1) * (b1 * n2).sum(-1)   # atan2(|b2| b1 · (b2 × b3), (b1 × b2) · (b2 × b3))
    return np.arctan2(y, (n1 * n2).sum(-1)) / np.pi


def dihedral_bins(x: np.ndarray, k: int = 18) -> np.ndarray:
    """Class of x = φ / π ∈ [−1, 1] among ``k`` equal bins: ⌊(x + 1) / 2 · k⌋, x = 1 in the last bin."""
    return np.clip(np.floor((np.asarray(x) + 1.0) / 2.0 * k), 0, k - 1).astype(np.int64)


def shortest_paths(n_atoms: int, bonds: np.ndarray, max_spd: int = 63) -> np.ndarray:
    """[n, n] hop counts over the bonds (breadth-first, all sources at once), unreachable pairs and longer paths =
    ``max_spd``."""
    adjacency = np.zeros((n_atoms, n_atoms), dtype=np.int64)
    adjacency[bonds[:, 0], bonds[:, 1]] = adjacency[bonds[:, 1], bonds[:, 0]] = 1
    hops = np.full((n_atoms, n_atoms), max_spd, dtype=np.int64)
    reached = np.eye(n_atoms, dtype=bool)
    frontier = reached.copy()
    np.fill_diagonal(hops, 0)
    for hop in range(1, max_spd):
        frontier = ((frontier.astype(np.int64) @ adjacency) > 0) & ~reached
        if not frontier.any():
            break
        hops[frontier] = hop
        reached |= frontier
    return hops


def eigenvector_centrality(n_atoms: int, bonds: np.ndarray) -> np.ndarray:
    """The adjacency matrix's leading eigenvector, non-negative, unit L2 norm (all equal without bonds)."""
    if len(bonds) == 0:
        return np.full(n_atoms, 1.0 / np.sqrt(max(n_atoms, 1)))
    adjacency = np.zeros((n_atoms, n_atoms))
    adjacency[bonds[:, 0], bonds[:, 1]] = adjacency[bonds[:, 1], bonds[:, 0]] = 1.0
    _, vectors = np.linalg.eigh(adjacency)
    lead = np.abs(vectors[:, -1])
    return lead / np.linalg.norm(lead)


def rank_classes(score: np.ndarray, pairs: np.ndarray, tie: float) -> np.ndarray:
    """0: score[a] > score[b] + tie; 1: score[b] > score[a] + tie; 2: |Δ| ≤ tie."""
    delta = score[pairs[:, 0]] - score[pairs[:, 1]]
    return np.where(delta > tie, 0, np.where(delta < -tie, 1, 2)).astype(np.int64)
