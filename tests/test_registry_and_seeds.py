"""compose.registry and compose.seeds: one mechanism for names, one rule for seeds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.batch.engines import ENGINES, get_engine
from compose.errors import UsageError
from compose.registry import Registry
from compose.seeds import MAX_SEED, check_seed, resolve_seed


def test_a_registry_imports_only_what_is_asked_for():
    reg = Registry("widget", UsageError, "E602")
    reg.register("broken", "compose.no_such_module:Nothing")
    reg.register("fraction", "fractions:Fraction")
    assert reg.get("fraction").__name__ == "Fraction"
    assert "broken" in reg and reg.names() == ["broken", "fraction"]
    with pytest.raises(UsageError) as err:
        reg.get("gizmo")
    assert err.value.code == "E602" and "broken, fraction" in err.value.message


def test_engines_are_registered():
    assert ENGINES.names() == ["local", "ray"]
    with get_engine("local") as engine:
        assert engine.name == "local"


@given(st.integers(min_value=0, max_value=MAX_SEED), st.one_of(st.none(), st.integers(0, 100)))
def test_a_given_seed_wins(seed, own):
    assert resolve_seed(seed, own) == seed


@pytest.mark.parametrize("bad", [-1, 10**20, 1.5, "3", True, float("nan")])
def test_bad_seeds_are_coded(bad):
    with pytest.raises(UsageError) as err:
        check_seed(bad, "--seed")
    assert err.value.code == "E006" and "--seed" in err.value.message


def test_the_owner_seed_then_the_default():
    assert resolve_seed(None, 9) == 9
    assert resolve_seed(None, None, default=4) == 4
