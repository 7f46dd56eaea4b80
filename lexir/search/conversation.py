"""Conversational queries, flattened as DiSCo (Lupart et al., SIGIR 2025, arXiv:2410.14609) feeds them to its
query encoder.

A conversation is a list of turns, {"role": "user" | "assistant", "text": ...}, oldest first, ending with the
user's current question. DiSCo encodes it once, as one text: the current question, then the earlier turns newest
first, joined by the tokenizer's separator,

    q_n [SEP] a_{n-1} [SEP] q_{n-1} [SEP] ... [SEP] a_0 [SEP] q_0

(turns without text are left out). At most `max_history` earlier turns are kept (the newest); the encoder's query
token limit then cuts what is left from the oldest end, since the oldest turns come last. Any sparse query
encoder can read the text: a DiSCo checkpoint is a SPLADE model (BERT's "[SEP]"); encoders whose tokenizer has no
separator (BM25, causal LMs) get the turns on separate lines. The document side is untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from lexir.errors import LexirError

ROLES = ("user", "assistant")
DEFAULT_MAX_HISTORY = 10


@dataclass(frozen=True)
class Turn:
    role: str
    text: str


def parse_conversation(data: Any, where: str = "the conversation") -> tuple[Turn, ...]:
    """Turns from JSON data ([{"role", "text"}, ...]), with a one-line error naming `where` for anything else."""
    if not isinstance(data, list):
        raise LexirError(f"{where} must be a JSON list of turns {{\"role\": \"user\"|\"assistant\", \"text\": ...}}")
    turns = []
    for number, turn in enumerate(data, start=1):
        if not isinstance(turn, dict) or set(turn) != {"role", "text"}:
            raise LexirError(f"{where}: turn {number} must be an object with exactly \"role\" and \"text\"")
        if turn["role"] not in ROLES or not isinstance(turn["text"], str):
            raise LexirError(f"{where}: turn {number} needs a role of {' or '.join(ROLES)} and a text string")
        turns.append(Turn(turn["role"], turn["text"]))
    return tuple(turns)


def flatten(conversation: Sequence[Turn], separator: str, max_history: int = DEFAULT_MAX_HISTORY) -> str:
    """DiSCo's text of a conversation (see the module docstring); `separator` is the tokenizer's ("[SEP]"), or ""
    for none (turns on separate lines)."""
    if max_history < 0:
        raise LexirError(f"the history cap must be 0 or more turns, got {max_history}")
    if not conversation or conversation[-1].role != "user" or not conversation[-1].text.strip():
        raise LexirError("a conversation ends with the user's question: its last turn must be a non-empty user turn")
    earlier = [turn.text for turn in reversed(conversation[:-1]) if turn.text.strip()][:max_history]
    joiner = f" {separator} " if separator else "\n"
    return joiner.join([conversation[-1].text, *earlier])


def separator_of(searcher: Any) -> str:
    """The separator token of the tokenizer that encodes the searcher's queries ("" where it has none): the first
    retriever whose encoder (or its document model, or its recorded query encoder) has a transformers tokenizer."""
    for retriever in searcher.retrievers.values():
        encoder = getattr(retriever, "encoder", None)
        query_side = getattr(encoder, "_query_side", None)  # a separate query checkpoint (SPLADE query_model)
        for candidate in (query_side, encoder, getattr(encoder, "documents", None),
                          getattr(encoder, "query_encoder", None)):
            tokenizer = getattr(candidate, "tokenizer", None) if candidate is not None else None
            if tokenizer is not None and hasattr(tokenizer, "sep_token"):
                return tokenizer.sep_token or ""
    return ""


def conversation_query(searcher: Any, conversation: Sequence[Turn], max_history: int = DEFAULT_MAX_HISTORY) -> str:
    """The text a searcher searches for a conversation."""
    return flatten(conversation, separator_of(searcher), max_history)


def flatten_topics(topics: Sequence[Any], searcher: Any, max_history: int = DEFAULT_MAX_HISTORY) -> list[Any]:
    """Topics with a history (BEIR-style queries with a "history") as their flattened conversation."""
    separator = None
    flattened = []
    for topic in topics:
        if topic.history:
            separator = separator_of(searcher) if separator is None else separator
            topic = replace(topic, text=flatten([*topic.history, Turn("user", topic.text)], separator, max_history),
                            history=())
        flattened.append(topic)
    return flattened
