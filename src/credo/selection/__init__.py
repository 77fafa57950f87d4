"""Batch selection: DAPO dynamic sampling and overlong shaping."""

from credo.selection.dynamic import apply_overlong, filter_groups, group_scores, overlong_penalty

__all__ = ["apply_overlong", "filter_groups", "group_scores", "overlong_penalty"]
