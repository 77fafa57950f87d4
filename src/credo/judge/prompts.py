"""Prompts of the CDRRM stages, written for this project after the structure described in arXiv 2603.08035.

P1 profiles one response against the instruction (evidence-anchored findings, one worked example). P2 turns two
label-free profiles into a minimal, discriminative rubric. P3 is the pair-conditional rubric generator's input.
P4 judges a pair under a rubric with the fixed grammar ending in ``Winner: A`` or ``Winner: B``. DIRECT judges with
no rubric; ONE_STEP writes a rubric from the pair in one call (no profiling). Placeholders are ``<<name>>`` (JSON
braces in the templates stay literal).
"""

from __future__ import annotations

from credo.judge.schemas import DIMENSIONS


def fill(template: str, **values: str) -> str:
    for k, v in values.items():
        template = template.replace(f"<<{k}>>", v)
    return template


PROFILE = """You audit ONE response against its instruction. Report only what can be verified in the text.

Candidate dimensions: <<dimensions>>. Use Conciseness only if the instruction asks for brevity.

Rules:
1. Every finding anchors to a concrete requirement of the instruction (instruction_anchor). Invent no requirement.
2. A fail or partial finding must quote the response in "evidence"; without a quote it is invalid.
3. Claims are checkable facts ("missing X", "contains Y", "exceeds the limit"), never "better" or "deeper".
4. status is one of pass, fail, partial, not_applicable; severity 0-3 (0 for pass and not_applicable).

Output strict JSON only:
{"criteria_candidates": [...], "findings": [{"criterion": ..., "status": ..., "severity": ..., "claim": ...,
  "evidence": ..., "instruction_anchor": ...}]}

Example. Instruction: "Introduce Python in at most two sentences." Response: "Python is a popular language. It is
easy to read. It was created by Guido van Rossum."
{"criteria_candidates": ["Instruction Following", "Factual Accuracy"], "findings": [
 {"criterion": "Instruction Following", "status": "fail", "severity": 2, "claim": "has three sentences",
  "evidence": "It was created by Guido van Rossum.", "instruction_anchor": "at most two sentences"},
 {"criterion": "Factual Accuracy", "status": "pass", "severity": 0, "claim": "creator named correctly",
  "evidence": "created by Guido van Rossum", "instruction_anchor": "Introduce Python"}]}

Instruction:
<<instruction>>

Response:
<<response>>

JSON:"""

SYNTHESIZE = """Two responses to the same instruction were audited separately. Their findings are below; nothing says
which response is better. Write a rubric that separates them.

Design rules:
- Every hard rule must discriminate: one response passes it and the other fails it.
- Hard rules come from a high-severity failure of one response or a key pass of the other.
- Atomic (one pass/fail check), executable on one response alone, type "must" or "forbid".
- General: no names, numbers or sentences copied from the responses unless the instruction requires them.
- Minimal: as few rules as separate the pair. Add principles only if hard rules cannot separate it.
- Never infer the winner from order or labels; only from findings, evidence and anchors.
Finish with pair_consistency_check: which response the rubric predicts wins (A, B or tie).

Output strict JSON only:
{"hard_rules": [{"rule_id": "R1", "type": "must", "criterion": ..., "rationale": ..., "derived_from":
  {"answer_a_findings": [...], "answer_b_findings": [...]}, "test": ...}], "principles": [{"principle_id": "P1",
  "description": ..., "rationale": ...}], "pair_consistency_check": {"expected_winner": "unknown",
  "rubric_predicts": "A", "notes": ...}}

Instruction:
<<instruction>>

Findings for response A:
<<profile_a>>

Findings for response B:
<<profile_b>>

JSON:"""

# The two responses of a pair, the shared last block of GENERATOR, ONE_STEP, JUDGE and DIRECT.
_RESPONSES = """Response A:
<<response_a>>

Response B:
<<response_b>>
"""

GENERATOR = """Read the instruction and two responses. Write a minimal rubric of hard rules (must/forbid, atomic,
checkable on one response) that separates the two responses, plus principles only if needed. Strict JSON with keys
hard_rules (rule_id, type, criterion, test, rationale) and principles (principle_id, description).

Instruction:
<<instruction>>

""" + _RESPONSES + "\nJSON:"

ONE_STEP = """Read the instruction and two responses, then write a rubric to compare them. Strict JSON with keys
hard_rules (rule_id, type must/forbid, criterion, test, rationale), principles (principle_id, description) and
pair_consistency_check (rubric_predicts A, B or tie).

Instruction:
<<instruction>>

""" + _RESPONSES + "\nJSON:"

JUDGE = """Compare two responses to an instruction using the rubric.

For each response, check every hard rule (pass or fail, citing the text) and then the principles. Then write
"--- Final Judgment ---", one sentence of justification, and a last line exactly "Winner: A" or "Winner: B".

Instruction:
<<instruction>>

Rubric:
<<rubric>>

""" + _RESPONSES

DIRECT = """Compare two responses to an instruction and decide which is better. Explain briefly, then write a last
line exactly "Winner: A" or "Winner: B".

Instruction:
<<instruction>>

""" + _RESPONSES


def profile_prompt(instruction: str, response: str) -> str:
    return fill(PROFILE, dimensions=", ".join(DIMENSIONS), instruction=instruction, response=response)

POINTWISE = """Check one response against each rule. For every rule write one line "<rule id>: pass" or
"<rule id>: fail", in order, and nothing else.

Instruction:
<<instruction>>

Rules:
<<rules>>

Response:
<<response>>
"""
