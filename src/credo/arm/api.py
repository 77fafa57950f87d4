"""``credo.ArmTrainer``: ARM training, guided generation and λ-grid evaluation from Python objects."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from credo.arm.config import ArmConfig
from credo.config import ConfigError, apply_overrides, load_config, recipe_path


def make_arm_config(config: Any = None, overrides: list[str] | dict | None = None) -> ArmConfig:
    """A validated :class:`ArmConfig` from a recipe name / YAML path, an ``ArmConfig`` (copied) or None (defaults)."""
    from credo.validate import validate

    if config is None or isinstance(config, str | Path):
        cfg = load_config(recipe_path(config) if config is not None else None, schema=ArmConfig)
    elif isinstance(config, ArmConfig):
        cfg = copy.deepcopy(config)
    else:
        raise ConfigError(f"config must be a recipe name, a YAML path or an ArmConfig, got {type(config).__name__}")
    return validate(apply_overrides(cfg, overrides or [], "overrides"))


class ArmTrainer:
    """Train an autoregressive reward model (``adapter.kind``: lora = GenARM, pblora = PARM, moslora = UniARM).

    ``model``: a path / ``"embedded"`` / Hub id, or a transformers causal LM (then also ``tokenizer``).
    ``train_pairs`` / ``eval_pairs``: lists of ``{"prompt", "responses": [y0, y1], "prefer": {objective: 0|1}}``
    (default: the source named by ``data.source``). ``output_dir`` is the run folder.
    """

    def __init__(self, config: Any = "uniarm", overrides: list[str] | dict | None = None, *, model: Any = None,
                 tokenizer: Any = None, train_pairs: list[dict] | None = None, eval_pairs: list[dict] | None = None,
                 output_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False):
        from credo.arm.data import check_pair
        from credo.validate import validate

        extra: dict[str, Any] = {}
        if output_dir is not None:
            extra["log.output_dir"] = str(output_dir)
        if isinstance(model, str | Path):
            extra["model.path"] = str(model)
        if train_pairs is not None:
            extra |= {"data.source": "pairs", "eval.grid": 0}
        self.config = validate(apply_overrides(make_arm_config(config, overrides), extra, "ArmTrainer arguments"))
        objectives = list(self.config.data.objectives)
        self.rows = None
        if train_pairs is not None:
            self.rows = ([check_pair(r, objectives, f"train_pairs[{i}]") for i, r in enumerate(train_pairs)],
                         [check_pair(r, objectives, f"eval_pairs[{i}]") for i, r in enumerate(eval_pairs or [])])
        elif eval_pairs is not None:
            raise ConfigError("eval_pairs needs train_pairs")
        self.model = None if isinstance(model, str | Path) else model
        self.tokenizer = tokenizer
        self.resume, self.overwrite = resume, overwrite
        self.metrics: dict = {}

    @property
    def run_dir(self) -> Path:
        return Path(self.config.log.output_dir)

    def train(self) -> dict:
        """Train; returns the final metrics (trainable_parameters, loss, held-out pairwise accuracy per objective).
        The ARM is saved to ``<run>/arm``."""
        from credo.arm.train import train_arm

        self.model, self.tokenizer, self.metrics = train_arm(self.config, self.resume, self.overwrite, self.model,
                                                             self.tokenizer, self.rows)
        return self.metrics

    def evaluate(self) -> dict:
        """λ-grid evaluation on the synthetic topic task (HV, MIP, monotonicity against the exact oracle); writes
        ``eval.json`` and ``pareto.png`` into the run folder."""
        from credo.arm.evaluate import evaluate_run

        if self.model is None:
            raise ConfigError("nothing to evaluate: train() first")
        if self.config.data.source != "synthetic":
            raise ConfigError("data.source: λ-grid evaluation needs the synthetic task's exact objectives")
        return evaluate_run(self.config, self.model, self.tokenizer, self.run_dir)

    def processor(self, pref: str | list[float] | None, alpha: float | None = None) -> Any:
        """The guidance logits processor of the saved ARM (``<run>/arm``) for preference ``pref``."""
        from credo.arm.generate import build_processor

        a = self.config.decode.alpha if alpha is None else alpha
        return build_processor(self.run_dir / "arm", pref, a, normalize=self.config.decode.normalize)
