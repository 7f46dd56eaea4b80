"""Query tokenization for model-free query sides, with a per-word cache for BERT-style tokenizers.

A BERT tokenizer (BertNormalizer + BertPreTokenizer + WordPiece) never joins characters across
whitespace, so the tokens of a text are the tokens of its whitespace-separated words, in order. Queries
repeat words, so `QueryTokenizer` remembers each word's token ids: a query whose words were all seen
costs a few dictionary lookups instead of a tokenizer call; on any unseen word the whole query is
tokenized once and every word's ids are taken from the token offsets. Other tokenizers (BPE,
SentencePiece), whose tokens depend on context across spaces, are always called on the whole query.
"""

from __future__ import annotations

import json
from typing import Any

MAX_CACHED_WORDS = 200_000


def is_bert_style(tokenizer: Any) -> bool:
    config = json.loads(tokenizer.to_str())
    return ((config.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
            and (config.get("model") or {}).get("type") == "WordPiece")


class QueryTokenizer:
    """Token ids of a query without special tokens, equal to `tokenizer.encode(text).ids`."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cached = is_bert_style(tokenizer)
        self._words: dict[str, list[int]] = {}

    def __call__(self, text: str) -> list[int]:
        if not self.cached:
            return self.tokenizer.encode(text, add_special_tokens=False).ids
        words = text.split()
        known = self._words
        if all(word in known for word in words):
            return [token for word in words for token in known[word]]
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        self._remember(text, words, encoding)
        return encoding.ids

    def _remember(self, text: str, words: list[str], encoding: Any) -> None:
        """Split the query's token ids by word, through the tokens' character offsets."""
        if len(self._words) > MAX_CACHED_WORDS:
            self._words.clear()
        ends, position = [], 0
        for word in words:
            position = text.index(word, position) + len(word)
            ends.append(position)
        by_word: list[list[int]] = [[] for _ in words]
        word = 0
        for token, (start, _) in zip(encoding.ids, encoding.offsets):
            while word < len(ends) - 1 and start >= ends[word]:
                word += 1
            by_word[word].append(token)
        for word_text, ids in zip(words, by_word):
            self._words[word_text] = ids
