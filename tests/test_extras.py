import json

import pytest

from credo.extras import require


def test_require_returns_the_module():
    assert require("json", "anything", "dev") is json


def test_require_names_the_need_and_the_extra_in_one_line():
    with pytest.raises(ImportError) as e:
        require("credo_no_such_module", "train.backend=ray", "ray")
    assert str(e.value) == "train.backend=ray needs credo_no_such_module: pip install 'credo[ray]'"
