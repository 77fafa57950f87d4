"""Multi-agent prompts that cannot fit an agent's context are refused with one line naming the agent and the key:
at start (before the SFT warm start and any rollout) and at each turn (before the engine is called)."""

from pathlib import Path

import pytest
from test_multi_agent import SMALL
from test_workflows import Scripted, make

from credo.agents import Agent, Policy
from credo.config import AgentConfig, ConfigError, ModelConfig, SamplingConfig, load_config
from credo.models.embedded import char_tokenizer
from credo.train.multi import MultiAgentTrainer
from credo.workflows import WORKFLOWS


@pytest.fixture(autouse=True)
def _task_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def no_sft(self):
    raise AssertionError("the SFT warm start ran before the prompt check")


def test_an_agent_whose_prompts_exceed_its_context_is_refused_before_sft(tmp_path, monkeypatch):
    """Rows are 'train 0:' .. 'train 31:'; the solver's solo prompt '{prompt}' = 'train 31: Answer:' is 18 chars, so
    <bos> + 18 tokens + 4 new tokens = 23 > 16; the thinker (context 256) fits."""
    monkeypatch.setattr(MultiAgentTrainer, "warm_start", no_sft)
    agents = ["multi.workflow=think_reason",
              "multi.agents=[{name: thinker}, {name: solver, model: {max_positions: 16}, sft_prompt: '{question}'}]"]
    cfg = load_config(None, SMALL + agents + [f"log.output_dir={tmp_path}"])
    with pytest.raises(ConfigError) as e:
        MultiAgentTrainer(cfg)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("sampling.max_new_tokens: 4; agent 'solver', role ")
    assert "exceeds the model's context of 16 tokens" in msg


def test_the_agents_own_max_new_tokens_key_is_named(tmp_path, monkeypatch):
    """The thinker's own cap (12) is the one that does not fit: 'train 31: Plan:' = <bos> + 15 chars, + 12 > 24."""
    monkeypatch.setattr(MultiAgentTrainer, "warm_start", no_sft)
    agents = ["multi.workflow=think_reason",
              "multi.agents=[{name: thinker, model: {max_positions: 24}, sampling: {max_new_tokens: 12}}, "
              "{name: solver}]"]
    cfg = load_config(None, SMALL + agents + [f"log.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"^multi\.agents\[0\]\.sampling\.max_new_tokens: 12; agent 'thinker', "
                                          r"role 'think': a prompt has 16 tokens and 16 \+ 12 exceeds the model's "
                                          r"context of 24 tokens"):
        MultiAgentTrainer(cfg)


def test_prompts_that_fit_pass_the_check(tmp_path):
    """Boundary: the longest think prompt is 16 tokens, 16 + 4 = 20 = the context, which fits."""
    agents = ["multi.workflow=think_reason",
              "multi.agents=[{name: thinker, model: {max_positions: 20}}, {name: solver}]"]
    tr = MultiAgentTrainer(load_config(None, SMALL + agents + ["sft.steps=0", f"log.output_dir={tmp_path}"]))
    assert tr.policies["thinker"].context == 20


class NoEngine:
    def generate(self, *args, **kwargs):
        raise AssertionError("the engine was called with a prompt that does not fit")


def test_a_turn_prompt_grown_past_the_context_is_refused_before_generation():
    """A later turn's prompt carries earlier turns' text; the agent refuses it before its engine runs."""
    policy = Policy("q", None, char_tokenizer(), NoEngine(), None, ModelConfig(), context=12)
    agent = Agent(AgentConfig(name="q", sampling={"max_new_tokens": 3}), policy, SamplingConfig(max_new_tokens=3),
                  index=1)
    with pytest.raises(ConfigError, match=r"^multi\.agents\[1\]\.sampling\.max_new_tokens: 3; agent 'q', role "
                                          r"'critique': a prompt has 10 tokens and 10 \+ 3 exceeds the model's "
                                          r"context of 12 tokens \(prompt 'q7 8 crit'"):
        agent.generate(["q7", "q7 8 crit"], 1, "critique")  # <bos> + 9 characters


@pytest.mark.parametrize("workflow, expected", [
    ("think_reason", [("a", "think", "q7 Plan:"), ("b", "solve", "q7 Plan:  Answer:"), ("b", "solo", "q7 Answer:")]),
    ("voting", [("a", "answer", "q7 Answer:"), ("b", "answer", "q7 Answer:")]),
    ("hacpo", [("a", "answer", "q7 Answer:"), ("b", "answer", "q7 Answer:")]),
    ("answer_critique_rewrite", [
        (n, role, text) for n in "ab" for role, text in (
            ("answer", "q7 Answer:"), ("critique", "q7 Answer:  Critique:"),
            ("rewrite", "q7 Answer:  Critique:  Revised:"))]),
])
def test_each_workflow_lists_every_turn_prompt_with_the_other_turns_text_empty(workflow, expected):
    wf = make(workflow, [Scripted("a", str), Scripted("b", str)])
    assert [(a.name, role, text) for a, role, text in wf.prompts({"question": "q7", "answer": "7"})] == expected
    assert set(WORKFLOWS.names()) == {"think_reason", "voting", "hacpo", "answer_critique_rewrite"}


def test_a_custom_role_template_is_the_one_checked():
    wf = make("voting", [Scripted("a", str, prompts={"answer": "Q: {question}?"}), Scripted("b", str)])
    assert [text for _, _, text in wf.prompts({"question": "q7", "answer": "7"})] == ["Q: q7?", "q7 Answer:"]
