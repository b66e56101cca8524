"""The conformance kit over every registered, installed combination: each pair model with its default encoder
and late_fusion over every encoder (zoo_core.testing.conformance_cases)."""

import pytest

from zoo_core.models import model_spec
from zoo_core.testing import CHECKS, conformance_cases

CASES = conformance_cases()


def test_every_installed_model_is_covered():
    names = {pm for pm, _ in CASES} | {enc for _, enc in CASES}
    assert {"late_fusion", "mpnn", "attentivefp", "cigin", "cgib", "cgib_cont"} <= names


@pytest.mark.parametrize("pair_model,encoder", CASES, ids=[f"{p}-{e}" for p, e in CASES])
@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_conformance(pair_model, encoder, check):
    check(model_spec(encoder, pair_model=pair_model, task="regression", explicit_h=True))
