"""Virtual interaction environment (VIE, METHODS §7.1), with the original code's bugs fixed.

Roles: the caller orders the pair. For molecular-interaction data the *solute* is the pair's solute/chromophore
(molecule A) and the *solvent* molecule B, as 3DMRL does for MI; for DDI 3DMRL makes the drug with the larger
conformer radius (:func:`radius`, max atom distance from the centroid) the solute (pretrainer ``role_order``).
For one pair:

1. Both conformers are centred on their own centroid (the original relies on ETKDG's centring).
   r_solv = max distance of a solvent atom from its centroid, floored at ``min_radius`` (default 1 Å; a one-atom
   solvent has r_solv = 0, which would put the copy on the target atom and make the label 0/0 (NaN upstream)).
2. Target atoms: the solute's non-ring atoms (``candidates``); ``candidates[perm[:n]]`` with n = 5 (the original
   keeps ``perm[:n]``, positions in the candidate list, METHODS §10 item 7). All candidates when there are ≤ n.
   A solute with no non-ring atom (a bare ring without explicit H) falls back to all its atoms.
3. One solvent copy per target: origin t = x_target + r_solv · û, û = g/‖g‖, g ~ N(0, I₃)
   (``fixed_direction``: û = x_target/‖x_target‖).
4. Random rotation about the solvent's centroid: axis ~ U([−½, ½]³) normalised, θ ~ U(0, 2π), Rodrigues matrix R,
   x' = x R + t (row vectors, as the original).
5. Pseudo-force label of each copy atom: (x'_k − x_target)/‖x'_k − x_target‖ (‖·‖ clamped at 1e-6).

Every random draw comes from the ``numpy.random.Generator`` passed in; :func:`item_rng` derives one per
(seed, epoch, item), so a run is reproducible whatever the batching or worker layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class VIESystem:
    """One VIE: solute atoms first, then the copies (copy-major: copy 0's atoms, copy 1's atoms, ...)."""

    pos: np.ndarray            # [Ns + C·Nv, 3] float64, solute centred on its centroid
    is_solvent: np.ndarray     # [Ns + C·Nv] bool (False = solute atom)
    copy_atom: np.ndarray      # [C·Nv] index of the 2D solvent atom each copy atom copies
    copy_target: np.ndarray    # [C·Nv] solute atom index of the target of the copy the atom belongs to
    copy_id: np.ndarray        # [C·Nv] which copy (0..C-1)
    edge_index: np.ndarray     # [2, C·Ev] replicated solvent bonds, indices into the copy atoms (0..C·Nv-1)
    force: np.ndarray          # [C·Nv, 3] unit pseudo-force labels
    targets: np.ndarray        # [C] solute target atoms
    r_solv: float
    n_solute: int

    @property
    def n_atoms(self) -> int:
        return int(self.pos.shape[0])


def item_rng(seed: int, epoch: int, item: int) -> np.random.Generator:
    """The generator of one pretraining item: a function of (seed, epoch, item) only."""
    return np.random.default_rng([int(seed), int(epoch), int(item)])


def radius(pos: np.ndarray) -> float:
    """Max atom distance from the centroid (0 for one atom)."""
    pos = np.asarray(pos, dtype=np.float64)
    return float(np.linalg.norm(pos - pos.mean(axis=0), axis=1).max()) if len(pos) else 0.0


def rotation_matrix(rng: np.random.Generator) -> np.ndarray:
    """The original's random rotation: Rodrigues matrix of a U([−½, ½]³) axis and a U(0, 2π) angle."""
    axis = rng.uniform(-0.5, 0.5, size=3)
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    theta = rng.uniform(0.0, 2.0 * np.pi)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) * np.cos(theta) + np.sin(theta) * k + (1.0 - np.cos(theta)) * np.outer(axis, axis)


def make_vie(solute_pos: np.ndarray, solute_in_ring: np.ndarray, solvent_pos: np.ndarray,
             solvent_edge_index: np.ndarray, rng: np.random.Generator, n_targets: int = 5,
             fixed_direction: bool = False, rotation: bool = True, min_radius: float = 1.0) -> VIESystem:
    """Build one VIE (see the module doc). ``solvent_edge_index`` [2, Ev] holds the 2D solvent graph's edges."""
    xs = np.asarray(solute_pos, dtype=np.float64)
    xs = xs - xs.mean(axis=0, keepdims=True)
    xv = np.asarray(solvent_pos, dtype=np.float64)
    xv = xv - xv.mean(axis=0, keepdims=True)
    ns, nv = xs.shape[0], xv.shape[0]
    r_solv = max(radius(xv), float(min_radius))
    candidates = np.flatnonzero(~np.asarray(solute_in_ring, dtype=bool))
    if candidates.size == 0:
        candidates = np.arange(ns)
    perm = rng.permutation(candidates.size)
    targets = candidates[perm[:n_targets]]
    copies, forces = [], []
    for t in targets:
        anchor = xs[t]
        if fixed_direction and np.linalg.norm(anchor) > 1e-8:
            direction = anchor / np.linalg.norm(anchor)
        else:
            g = rng.normal(size=3)
            direction = g / max(np.linalg.norm(g), 1e-12)
        origin = anchor + r_solv * direction
        placed = (xv @ rotation_matrix(rng) if rotation else xv) + origin
        delta = placed - anchor
        forces.append(delta / np.maximum(np.linalg.norm(delta, axis=1, keepdims=True), 1e-6))
        copies.append(placed)
    c = len(targets)
    ei = np.asarray(solvent_edge_index, dtype=np.int64).reshape(2, -1)
    edge_index = (ei[:, None, :] + (np.arange(c) * nv)[None, :, None]).reshape(2, -1)
    return VIESystem(
        pos=np.concatenate([xs, *copies]) if c else xs,
        is_solvent=np.concatenate([np.zeros(ns, bool), np.ones(c * nv, bool)]),
        copy_atom=np.tile(np.arange(nv), c),
        copy_target=np.repeat(targets, nv).astype(np.int64),
        copy_id=np.repeat(np.arange(c), nv),
        edge_index=edge_index,
        force=np.concatenate(forces) if c else np.zeros((0, 3)),
        targets=targets.astype(np.int64),
        r_solv=r_solv,
        n_solute=ns,
    )
