"""The conformance kit over every registered, installed combination: each pair model with its default encoder
and late_fusion over every encoder (zoo_core.testing.conformance_cases)."""

import pytest

from zoo_core.testing import CHECKS, conformance_cases, conformance_spec

CASES = conformance_cases()


def test_every_installed_model_is_covered():
    names = {pm for pm, _ in CASES} | {enc for _, enc in CASES}
    assert {"late_fusion", "molecule", "mpnn", "attentivefp", "cigin", "cgib", "cgib_cont"} <= names


@pytest.mark.parametrize("pair_model,encoder", CASES, ids=[f"{p}-{e}" for p, e in CASES])
@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_conformance(pair_model, encoder, check):
    check(conformance_spec(pair_model, encoder, task="regression", explicit_h=True))


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_conformance_of_a_multi_task_scaled_molecule_model(check):
    """A molecule model with 3 tasks and a target scaler passes every check (the scaler's buffers round-trip)."""
    check(conformance_spec("molecule", "mpnn", task="regression", n_tasks=3, scale_targets=True,
                           tasks=["a", "b", "c"]))
