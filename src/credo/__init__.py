"""credo: reinforcement-learning post-training for language models where credit assignment is the hard part.

``credo.Trainer`` (RL: single policy, multi-agent, HACPO), ``credo.RetrievalTrainer`` (UniFAR) and
``credo.ArmTrainer`` (GenARM / PARM / UniARM reward models for guided decoding) are the Python entry points;
``credo.make_config`` builds a validated config from a recipe name, a YAML path or a dataclass.
"""

__version__ = "0.1.0"
__all__ = ["ArmTrainer", "RetrievalTrainer", "Trainer", "make_config"]


def __getattr__(name: str):  # imported on first use, so `import credo` stays light
    if name == "ArmTrainer":
        from credo.arm.api import ArmTrainer

        return ArmTrainer
    if name in __all__:
        from credo import api

        return getattr(api, name)
    raise AttributeError(f"module 'credo' has no attribute {name!r}")
