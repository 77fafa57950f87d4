"""The Python API: every credo trainer built from objects instead of a command line.

``Trainer`` covers single-policy RL (GRPO, Dr.GRPO, DAPO, GSPO, RLOO), multi-agent workflows (CCPO, DACR, voting)
and HACPO; ``RetrievalTrainer`` covers UniFAR. A config is a recipe name or YAML path (resolved as by the CLI), a
config dataclass, or None (defaults), then ``overrides`` (``["train.steps=50"]`` or a mapping) on top.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from credo.config import Config, ConfigError, TaskConfig, apply_overrides, load_config, recipe_path


def make_config(config: Any = None, overrides: list[str] | dict | None = None, schema: type = Config) -> Any:
    """A validated config of ``schema``: from a recipe name / YAML path, a ``schema`` instance (copied), or None."""
    from credo.validate import validate

    if config is None or isinstance(config, str | Path):
        loader = load_config
        if schema is not Config:
            from credo.retrieval.config import load_retrieval_config as loader
        cfg = loader(recipe_path(config) if config is not None else None)
    elif isinstance(config, schema):
        cfg = copy.deepcopy(config)
    else:
        raise ConfigError(f"config must be a recipe name, a YAML path or a {schema.__name__}, "
                          f"got {type(config).__name__}")
    return validate(apply_overrides(cfg, overrides or [], "overrides"))


class Trainer:
    """Build, train, evaluate and save any RL trainer of credo.

    ``model``: a path, Hub id, ``"embedded"`` / ``"smollm2"``, or a transformers causal LM (then also
    ``tokenizer``). ``train_dataset`` / ``eval_dataset``: a ``datasets.Dataset``, ``DatasetDict`` or list of dicts
    (rows in standard ``prompt`` or conversational ``messages`` format; sets ``task.kind=dataset``; with the default
    prompt template the prompt is kept verbatim). ``reward_funcs``: callables ``f(prompts, completions, **row_fields)
    -> list[float | None]`` or registered names, weighted by ``reward_weights``. ``workflow`` + ``agents`` (mappings
    as in ``multi.agents``; an agent's ``model`` may be a model object, with its ``tokenizer``) make a multi-agent
    run. ``output_dir`` is the run folder.
    """

    def __init__(self, config: Any = "grpo", overrides: list[str] | dict | None = None, *, model: Any = None,
                 tokenizer: Any = None, train_dataset: Any = None, eval_dataset: Any = None,
                 reward_funcs: list | None = None, reward_weights: list[float] | None = None,
                 workflow: str | None = None, agents: list[dict] | None = None, output_dir: str | Path | None = None,
                 resume: bool = False, overwrite: bool = False):
        from credo.train.multi import build_trainer

        extra: dict[str, Any] = {}
        if output_dir is not None:
            extra["log.output_dir"] = str(output_dir)
        if isinstance(model, str | Path):
            extra["model.path"] = str(model)
        if workflow is not None:
            extra["multi.workflow"] = workflow
        models = {}
        if agents is not None:
            specs = []
            for a in agents:
                a = dict(a)
                if a.get("model") is not None and not isinstance(a["model"], dict):
                    models[a["name"]] = (a.pop("model"), a.pop("tokenizer", None))
                specs.append(a)
            extra["multi.agents"] = specs
        cfg = apply_overrides(make_config(config, overrides), extra, "Trainer arguments")  # the trainer validates
        data = None
        if train_dataset is not None:
            cfg.task.kind = "dataset"
            if cfg.task.prompt_template == TaskConfig().prompt_template:
                cfg.task.prompt_template = "{question}"
            data = train_dataset
            if eval_dataset is not None:
                data = {"train": train_dataset, "eval": eval_dataset}
                cfg.task.split, cfg.task.eval_split = "train", "eval"
        elif eval_dataset is not None:
            raise ConfigError("eval_dataset needs train_dataset")
        objects: dict[str, Any] = {"data": data}
        if cfg.multi.workflow:
            if reward_funcs:
                raise ConfigError("reward_funcs apply to single-policy runs; workflows pay agents through their "
                                  "credit modes (multi.credit)")
            if model is not None and not isinstance(model, str | Path):
                raise ConfigError("a multi-agent run takes model objects per agent: agents=[{'name': ..., 'model': "
                                  "model, 'tokenizer': tokenizer}, ...]")
            objects["models"] = models
        else:
            objects |= {"reward_funcs": reward_funcs, "reward_weights": reward_weights}
            if model is not None and not isinstance(model, str | Path):
                objects |= {"model": model, "tokenizer": tokenizer}
        self.config = cfg
        self.trainer = build_trainer(cfg, resume, overwrite, **objects)

    @property
    def run_dir(self) -> Path:
        return self.trainer.run_dir

    @property
    def model(self) -> Any:
        """The policy (single-policy runs), or a mapping agent name → model (multi-agent runs)."""
        policies = getattr(self.trainer, "policies", None)
        return {n: p.model for n, p in policies.items()} if policies else self.trainer.model

    @property
    def tokenizer(self) -> Any:
        policies = getattr(self.trainer, "policies", None)
        return {n: p.tok for n, p in policies.items()} if policies else self.trainer.tok

    def train(self) -> dict[str, float]:
        """Train to ``train.steps`` (checkpoints, metrics.jsonl, TensorBoard in the run folder); returns the last
        held-out evaluation."""
        return self.trainer.run()

    def evaluate(self) -> dict[str, float]:
        """Held-out evaluation now: ``eval/*`` metrics (greedy accuracy, pass@k, sampled accuracy, length, ...)."""
        return self.trainer.evaluate()

    def save(self, path: str | Path | None = None) -> Path:
        """Export the trained policy (or every agent's) as plain Hugging Face directories; default: the run folder's
        ``policy/`` (``agents/``)."""
        return self.trainer.export(path)

    def report(self) -> Path:
        """Write ``report.html`` (plots of the run's metrics) into the run folder."""
        from credo.train.report import write_report

        return write_report(self.run_dir)


class RetrievalTrainer:
    """UniFAR retrieval training from objects: ``model`` an encoder path (``"minilm"``, a local HF encoder dir) or a
    ``UniFAR``; ``data`` a ``RetrievalSet`` or a BEIR folder for question→document pairs and ``doc_data`` the same
    for document→document pairs (default: the sources named by ``data.qd`` / ``data.dd``)."""

    def __init__(self, config: Any = "unifar", overrides: list[str] | dict | None = None, *, model: Any = None,
                 data: Any = None, doc_data: Any = None, output_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False):
        from credo.retrieval.config import RetrievalConfig
        from credo.retrieval.data import read_beir
        from credo.retrieval.train import Sources, load_sources
        from credo.validate import validate

        extra: dict[str, Any] = {}
        if output_dir is not None:
            extra["log.output_dir"] = str(output_dir)
        if isinstance(model, str | Path):
            extra["model.path"] = str(model)
        cfg = apply_overrides(make_config(config, overrides, RetrievalConfig), extra, "RetrievalTrainer arguments")
        self.config = validate(cfg)  # before the data is read

        def as_set(d: Any) -> Any:
            return read_beir(d) if isinstance(d, str | Path) else d

        if data is None and doc_data is None:
            self.sources = load_sources(self.config)
        else:
            self.sources = Sources(as_set(data), as_set(doc_data))
        self.model = None if isinstance(model, str | Path) else model
        self.resume, self.overwrite = resume, overwrite
        self.evals: list[dict] = []

    @property
    def run_dir(self) -> Path:
        return Path(self.config.log.output_dir)

    def train(self) -> list[dict]:
        """Train (evaluating before and after); returns the eval records."""
        from credo.retrieval.train import train

        self.model, self.evals = train(self.config, self.sources, self.model, self.resume, self.overwrite)
        return self.evals

    def evaluate(self, split: str = "test") -> dict[str, dict[str, float]]:
        """Recall@5/@20, MAP, nDCG@10 per query group on ``split`` of the q-doc set (else the doc-doc set)."""
        from credo.retrieval.cli import load_model
        from credo.retrieval.evaluate import evaluate_model

        if self.model is None:
            self.model = load_model(self.config.model.path, self.config.train.device)
        data = self.sources.qd or self.sources.dd
        return evaluate_model(self.model, data, split, self.config.eval.top_k, self.config.eval.batch_size,
                              progress=False)

    def save(self, path: str | Path | None = None) -> Path:
        """The UniFAR checkpoint (an HF encoder directory plus the head); default ``<run>/checkpoint``."""
        if self.model is None:
            raise ConfigError("nothing to save: train() first")
        return self.model.save(Path(path) if path is not None else self.run_dir / "checkpoint")
