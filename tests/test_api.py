"""The Python API: check_implementation without pytest, parametrize_with_contracts in a user's test file."""

from conformance import catalog
from conformance.api import check_implementation

pytest_plugins = ["pytester"]
catalog.all_contracts()  # keep contract modules loaded across in-process pytester runs


def test_check_implementation_returns_structured_results():
    results = check_implementation("keras", contracts=["DENSE-SHAPE-2D"], profile="quick", seed=11)
    by_id = {r.contract_id: r for r in results}
    shape = by_id["DENSE-SHAPE-2D"]
    assert (shape.status, shape.device, shape.seed, shape.profile) == ("passed", "default", 11, "quick")
    assert shape.examples > 0


def test_parametrize_with_contracts_in_a_user_test_file(pytester):
    pytester.makepyfile(
        test_mine="""
        from conformance.api import parametrize_with_contracts

        @parametrize_with_contracts("keras", contracts=["DENSE-SHAPE-2D"], profile="quick", seed=3)
        def test_keras_dense(contract, device):
            contract.check_on(device)
        """
    )
    result = pytester.runpytest_inprocess("-v")
    result.assert_outcomes(passed=1)
    assert "test_keras_dense[DENSE-SHAPE-2D-any] PASSED" in result.stdout.str()
