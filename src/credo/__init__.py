"""credo: reinforcement-learning post-training for language models where credit assignment is the hard part.

``credo.Trainer`` (RL: single policy, multi-agent, HACPO) and ``credo.RetrievalTrainer`` (UniFAR) are the Python
entry points; ``credo.make_config`` builds a validated config from a recipe name, a YAML path or a dataclass.
"""

__version__ = "0.1.0"
__all__ = ["RetrievalTrainer", "Trainer", "make_config"]


def __getattr__(name: str):  # imported on first use, so `import credo` stays light
    if name in __all__:
        from credo import api

        return getattr(api, name)
    raise AttributeError(f"module 'credo' has no attribute {name!r}")
