import pytest

from credo.config import ConfigError, load_config


@pytest.mark.parametrize("override, key", [
    ("rm.fusion=policies", "rm.fusion"), ("rm.update=ppo", "rm.update"), ("rm.alpha=1.5", "rm.alpha"),
    ("rm.omega_floor=-0.1", "rm.omega_floor"), ("rm.d=0", "rm.d"), ("rm.lr=0", "rm.lr"),
    ("rm.model={hidden_size: 30, num_heads: 4}", "rm.model.hidden_size"), ("rm.device=tpu", "rm.device")])
def test_bad_rm_keys_are_one_line_errors_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        load_config(None, [override])


def test_rm_cross_checks():
    with pytest.raises(ConfigError, match="^rm.pairs: "):
        load_config(None, ["rm.enabled=true", "rm.pretrain_steps=5"])
    with pytest.raises(ConfigError, match="^multi.workflow: .*single-policy"):
        load_config(None, ["rm.enabled=true", "multi.workflow=voting",
                           "multi.agents=[{name: a}, {name: b}]"])
