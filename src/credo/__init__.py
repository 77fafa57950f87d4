"""credo: reinforcement-learning post-training for language models where credit assignment is the hard part."""

__version__ = "0.1.0"
