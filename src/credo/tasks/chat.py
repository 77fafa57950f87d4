"""Task prompts -> token ids, token-in/token-out: the chat template is applied once, here, to the task's messages."""

from __future__ import annotations

from typing import Any


def encode_messages(tokenizer: Any, messages: list[dict[str, str]], chat_template: bool = True) -> list[int]:
    """Chat messages -> prompt token ids ending where the assistant's reply starts. Through the tokenizer's chat
    template when it has one (and it is wanted); otherwise the contents joined by blank lines, tokenized plainly."""
    if chat_template and getattr(tokenizer, "chat_template", None):
        return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                  return_dict=False))
    return list(tokenizer("\n\n".join(m["content"] for m in messages))["input_ids"])


def encode_task_prompt(tokenizer: Any, task: Any, row: dict[str, Any], chat_template: bool = True) -> list[int]:
    """The prompt token ids of ``row``: ``task.messages(row)`` when the task gives a conversation (system prompt,
    earlier turns), else ``task.prompt(row)`` as one user message (as :func:`credo.models.encode_prompt`)."""
    messages = task.messages(row) if hasattr(task, "messages") else None
    if messages is None:
        messages = [{"role": "user", "content": task.prompt(row)}]
        if not (chat_template and getattr(tokenizer, "chat_template", None)):
            return list(tokenizer(messages[0]["content"])["input_ids"])
    return encode_messages(tokenizer, messages, chat_template)
