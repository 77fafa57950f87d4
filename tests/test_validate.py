"""validate(cfg): every shipped recipe passes; a config built in Python (no load_config) is checked by the trainer
before any model is built."""

import pytest

from credo.arm.config import ArmConfig
from credo.config import RECIPES, Config, ConfigError, load_config
from credo.retrieval.config import RetrievalConfig, load_retrieval_config
from credo.validate import validate

ARM_RECIPES = {name: ArmConfig for name in ("genarm", "parm", "uniarm")}


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES.glob("*.yaml")))
def test_every_shipped_recipe_is_valid(recipe):
    path = RECIPES / f"{recipe}.yaml"
    cfg = load_retrieval_config(path) if recipe == "unifar" else load_config(path, schema=ARM_RECIPES.get(recipe,
                                                                                                     Config))
    assert validate(cfg) is cfg


def test_a_python_built_config_is_checked_by_the_trainer(tmp_path, monkeypatch):
    import credo.train.rl
    from credo.train.rl import RLTrainer

    monkeypatch.setattr(credo.train.rl, "load_policy", lambda *a: pytest.fail("a model was loaded"))
    cfg = Config()
    cfg.log.output_dir = str(tmp_path / "run")
    cfg.sampling.temperature = 0.0
    with pytest.raises(ConfigError, match=r"^sampling\.temperature: 0\.0; must be > 0$"):
        RLTrainer(cfg)
    cfg.sampling.temperature, cfg.train.micro_batch_size = 1.0, -4
    with pytest.raises(ConfigError, match=r"^train\.micro_batch_size: -4; must be >= 0$"):
        RLTrainer(cfg)
    cfg.train.micro_batch_size, cfg.sampling.n = 0, "8"  # wrong type set in Python
    with pytest.raises(ConfigError, match=r"^sampling\.n: '8'; must be >= 1$"):
        RLTrainer(cfg)
    assert not (tmp_path / "run").exists()


def test_retrieval_train_checks_its_config(tmp_path):
    from credo.retrieval.train import train

    cfg = RetrievalConfig()
    cfg.log.output_dir = str(tmp_path / "run")
    cfg.model.facets = ["method", "method"]
    with pytest.raises(ConfigError, match="model.facets: \\['method', 'method'\\]; a non-empty list of distinct"):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_validate_refuses_other_objects():
    with pytest.raises(TypeError, match="expected a Config or RetrievalConfig"):
        validate({"train": {}})
