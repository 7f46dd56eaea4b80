"""Query tokenization for model-free query sides, with a per-word cache for BERT-style tokenizers.

A BERT tokenizer (BertNormalizer + BertPreTokenizer + WordPiece) never joins characters across
whitespace, so the tokens of a text are the tokens of its whitespace-separated words, in order. Queries
repeat words, so `QueryTokenizer` remembers each word's token ids: a query whose words were all seen
costs a few dictionary lookups instead of a tokenizer call. An unseen printable-ASCII word is split by
`AsciiWordPiece` from the vocabulary alone; the other unseen words of a query go to the tokenizer in
one call, and each word's ids are taken from the token offsets. Other tokenizers (BPE, SentencePiece),
whose tokens depend on context across spaces, are always called on the whole query.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_CACHED_WORDS = 200_000
ASCII_PIECES = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9]")
# Spaces to str.split() but control characters to BERT's normalizer, which deletes them and so joins the
# words around them ("an\x85example" is one word): texts holding one skip the word cache.
JOINING_CONTROLS = re.compile("[\x0b\x0c\x1c-\x1f\x85]")


def is_bert_style(config: dict[str, Any]) -> bool:
    """Whether a tokenizer (its `tokenizer.json` content) is BERT's whitespace-respecting WordPiece."""
    return ((config.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
            and (config.get("model") or {}).get("type") == "WordPiece")


class AsciiWordPiece:
    """WordPiece ids of printable ASCII words, computed in Python for BERT-style tokenizers.

    A tokenizer call costs microseconds of fixed overhead, more than the word itself on a short query.
    For printable ASCII the BERT pipeline is simple: the normalizer only lowercases (when asked), the
    pre-tokenizer splits a word into runs of letters and digits and single punctuation marks (every other
    printable ASCII character is punctuation to it), and WordPiece takes the longest vocabulary prefix,
    then the longest "##" continuation, and so on (a piece it cannot cover, or one over the length limit,
    is the unknown token). Exact only where nothing else touches an ASCII word: the normalizer is BERT's
    (or none; elsewhere `usable` is False) and the word holds no added token such as "[CLS]" (added
    tokens match anywhere in the text, before the rest). Other words return None and go to the tokenizer.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        normalizer, model = config.get("normalizer"), config["model"]
        self.added = [token["content"] for token in config.get("added_tokens") or []]
        self.vocabulary: dict[str, int] = model["vocab"]
        self.usable = ((normalizer is None or normalizer.get("type") == "BertNormalizer")
                       and model.get("unk_token") in self.vocabulary)
        self.lowercase = bool(normalizer and normalizer.get("lowercase"))
        self.max_chars = int(model.get("max_input_chars_per_word") or 100)
        self.prefix = model.get("continuing_subword_prefix") or "##"
        self.unknown = [self.vocabulary.get(model.get("unk_token"), -1)]

    def ids(self, word: str) -> list[int] | None:
        """The word's token ids, or None when only the tokenizer can say."""
        if not (self.usable and word.isascii() and word.isprintable()):
            return None
        lowered = word.lower()
        if any(added in word or added in lowered for added in self.added):
            return None
        ids: list[int] = []
        for piece in ASCII_PIECES.findall(lowered if self.lowercase else word):
            ids.extend(self._piece(piece))
        return ids

    def _piece(self, piece: str) -> list[int]:
        if len(piece) > self.max_chars:
            return self.unknown
        vocabulary, ids, start = self.vocabulary, [], 0
        while start < len(piece):
            for end in range(len(piece), start, -1):
                candidate = piece[start:end] if start == 0 else self.prefix + piece[start:end]
                if candidate in vocabulary:
                    ids.append(vocabulary[candidate])
                    start = end
                    break
            else:
                return self.unknown
        return ids


class QueryTokenizer:
    """Token ids of a query without special tokens, equal to `tokenizer.encode(text).ids`."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        config = json.loads(tokenizer.to_str())
        self._ascii_words = AsciiWordPiece(config) if is_bert_style(config) else None
        self._words: dict[str, list[int]] = {}

    @property
    def cached(self) -> bool:
        """Whether words are cached (BERT-style tokenizers only)."""
        return self._ascii_words is not None

    def __call__(self, text: str) -> list[int]:
        ascii_words = self._ascii_words
        if ascii_words is None or JOINING_CONTROLS.search(text):
            return self.tokenizer.encode(text, add_special_tokens=False).ids
        if len(self._words) > MAX_CACHED_WORDS:
            self._words.clear()
        words = text.split()
        known = self._words
        unseen = [word for word in words if word not in known and not self._learn(word, ascii_words)]
        if unseen:
            self._tokenize(list(dict.fromkeys(unseen)))
        return [token for word in words for token in known[word]]

    def _learn(self, word: str, ascii_words: AsciiWordPiece) -> bool:
        """Cache an ASCII word's ids without the tokenizer; False when the tokenizer is needed."""
        ids = ascii_words.ids(word)
        if ids is None:
            return False
        self._words[word] = ids
        return True

    def _tokenize(self, words: list[str]) -> None:
        """Cache the ids of distinct words, from one tokenizer call split by the tokens' offsets."""
        encoding = self.tokenizer.encode(" ".join(words), add_special_tokens=False)
        ends, position = [], 0
        for word in words:
            position += len(word)
            ends.append(position)
            position += 1
        by_word: list[list[int]] = [[] for _ in words]
        word = 0
        for token, (start, _) in zip(encoding.ids, encoding.offsets):
            while word < len(ends) - 1 and start >= ends[word]:
                word += 1
            by_word[word].append(token)
        self._words.update(zip(words, by_word))
