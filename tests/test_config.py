import pytest

from credo.config import ConfigError, all_keys, describe, from_dict, load_config, to_dict
from credo.registry import Registry


def test_recipe_then_overrides(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("algo:\n  eps_high: 0.28\ntrain: {steps: 5}\n")
    cfg = load_config(p, ["train.lr=0.001", 'sampling.stop=["\\n", "."]', "algo.kl_coef=1"])
    assert cfg.algo.eps_high == 0.28 and cfg.train.steps == 5 and cfg.train.lr == 0.001
    assert cfg.sampling.stop == ["\n", "."] and cfg.algo.kl_coef == 1.0 and isinstance(cfg.algo.kl_coef, float)
    assert from_dict(to_dict(cfg)) == cfg


def test_unknown_keys_suggest_the_closest(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("algo:\n  eps_hihg: 0.28\n")
    with pytest.raises(ConfigError, match=r"r\.yaml.*'algo\.eps_hihg'.*did you mean 'algo\.eps_high'"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"command line.*'train\.setps'.*'train\.steps'"):
        load_config(None, ["train.setps=3"])
    with pytest.raises(ConfigError, match="expects int"):
        load_config(None, ["train.steps=many"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.steps"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_every_field_is_documented():
    keys = all_keys()
    assert len(keys) > 50
    assert all(f.metadata.get("help") for f in keys.values())
    assert "algo.loss_agg" in describe()


def test_shipped_recipes_load():
    from credo.config import RECIPES
    from credo.retrieval.config import load_retrieval_config

    names = {p.stem for p in RECIPES.glob("*.yaml")}
    assert {"grpo", "dr_grpo", "dapo", "gspo", "rloo", "demo", "unifar"} <= names
    from credo.arm.config import load_arm_config

    for p in RECIPES.glob("*.yaml"):
        arm = p.stem in ("uniarm", "parm", "genarm")
        (load_retrieval_config if p.stem == "unifar" else load_arm_config if arm else load_config)(p)


def test_registry_rejects_unknown_and_conflicting_names():
    reg = Registry("thing")
    f = reg.register("a")(lambda: 1)
    reg.register("a")(f)  # same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(lambda: 2)
    with pytest.raises(KeyError, match="did you mean 'a'"):
        reg.get("aa")
