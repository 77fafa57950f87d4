"""CDRRM (arXiv 2603.08035): contrast-then-synthesis rubric reward models over local models and OpenAI-compatible
endpoints. Modules: ``clients`` (interface, cache), ``hf`` and ``openai_client`` (the two clients), ``server``
(``credo serve``), ``schemas`` and ``prompts`` (the stages' JSON and wording), ``extract`` (JSON + retries),
``pipeline`` (profile -> synthesize -> filter -> SFT rows), ``judging`` (judge and baselines), ``probes`` (bias
probes), ``reward`` (the ``judge`` reward function) and ``cli`` (``credo rubric``). See docs/cdrrm.md."""
