"""Pydantic schemas of the CDRRM stages: per-response profiles, pairwise rubrics, and their checks.

Profile (stage 1): ``criteria_candidates`` and ``findings`` (criterion, status, severity 0-3, claim, evidence,
instruction_anchor). A fail/partial finding without quoted evidence is invalid (the evidence-anchored constraint).
Rubric (stage 2): ``hard_rules`` (must/forbid, criterion, rationale, derived_from, test), optional ``principles`` and
a ``pair_consistency_check`` (expected_winner, rubric_predicts in A/B/tie, notes).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DIMENSIONS = ("Instruction Following", "Content Coverage", "Factual Accuracy", "Format Compliance",
              "Logical Consistency", "Safety", "Conciseness", "Completeness")


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Finding(Strict):
    criterion: str = Field(min_length=1)
    status: Literal["pass", "fail", "partial", "not_applicable"]
    severity: int = Field(default=0, ge=0, le=3)
    claim: str = Field(min_length=1)
    evidence: str = ""
    instruction_anchor: str = Field(min_length=1)

    @model_validator(mode="after")
    def evidence_for_failures(self) -> Finding:
        if self.status in ("fail", "partial") and not self.evidence:
            raise ValueError(f"a {self.status} finding needs quoted evidence (criterion {self.criterion!r})")
        return self


class Profile(Strict):
    criteria_candidates: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(min_length=1)


class DerivedFrom(Strict):
    answer_a_findings: list[str] = Field(default_factory=list)
    answer_b_findings: list[str] = Field(default_factory=list)


class HardRule(Strict):
    rule_id: str = Field(min_length=1)
    type: Literal["must", "forbid"]
    criterion: str = Field(min_length=1)
    rationale: str = ""
    derived_from: DerivedFrom = Field(default_factory=DerivedFrom)
    test: str = ""

    @field_validator("type", mode="before")
    @classmethod
    def lower(cls, v):
        return v.lower() if isinstance(v, str) else v


class Principle(Strict):
    principle_id: str = Field(min_length=1)
    description: str = Field(min_length=1)
    rationale: str = ""


class ConsistencyCheck(Strict):
    expected_winner: Literal["A", "B", "tie", "unknown"] = "unknown"
    rubric_predicts: Literal["A", "B", "tie"]
    notes: str = ""


class Rubric(Strict):
    hard_rules: list[HardRule] = Field(min_length=1)
    principles: list[Principle] = Field(default_factory=list)
    pair_consistency_check: ConsistencyCheck | None = None

    def render(self) -> str:
        """The rubric as numbered text for a judge prompt (hard rules, then principles)."""
        lines = ["Hard rules (each is checked on one response alone):"]
        lines += [f"- [{r.rule_id}] {r.type.upper()}: {r.criterion}" + (f" (test: {r.test})" if r.test else "")
                  for r in self.hard_rules]
        if self.principles:
            lines.append("Principles (only to break ties the hard rules leave):")
            lines += [f"- [{p.principle_id}] {p.description}" for p in self.principles]
        return "\n".join(lines)


def redact(profile: Profile) -> dict:
    """A profile without label fields: only what the response shows (no chosen/rejected, no winner)."""
    return profile.model_dump(exclude_none=True)
