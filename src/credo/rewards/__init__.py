"""Reward shaping applied after verification (the raw verifier score stays in ``rewards["score"]``)."""
