"""The engine contract (tests/engine_contract.py) on CPU: the HF engine and the independent fake engine."""

import fake_engine  # noqa: F401,I001  (registers "fake")
import pytest
from engine_contract import EngineContract

from credo.engines import ENGINES


class TestHFEngine(EngineContract):
    @pytest.fixture()
    def engine_case(self, tiny_policy):
        model, tok = tiny_policy
        return ENGINES.get("hf")(model, tok), model, tok


class TestFakeEngine(EngineContract):
    logprob_atol = 1e-4

    @pytest.fixture()
    def engine_case(self, tiny_policy):
        model, tok = tiny_policy
        return ENGINES.get("fake")(model, tok), model, tok
