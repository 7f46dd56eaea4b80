"""Word analyzer for BM25: lowercase, word tokens, English stopwords, Porter stemming.

It follows Lucene's EnglishAnalyzer (what Pyserini's BM25 baselines use) closely
enough for the same effectiveness: Unicode word tokens, the English possessive
's removed, Lucene's 33 default English stopwords, and the Porter stemmer
(PyStemmer's `porter`).

Each distinct token's term (or its absence, for a stopword) is remembered: a token is
analyzed the same way wherever it occurs, and a text then costs one dictionary lookup per
token instead of a regex substitution, a stopword test and a stemmer call (RM3 analyzes
feedback documents at query time, index builds every document).
"""

from __future__ import annotations

import re
from functools import cached_property

LUCENE_ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
MEMO_SIZE = 1_000_000  # distinct tokens remembered (cleared when full; ~100 bytes each)


class EnglishAnalyzer:
    """Turns text into a list of stemmed terms."""

    def __init__(self, stopwords: frozenset[str] = LUCENE_ENGLISH_STOPWORDS, stemmer: str = "porter") -> None:
        self.stopwords = stopwords
        self.stemmer_name = stemmer
        self._memo: dict[str, str | None] = {}  # token -> its term (None: a stopword)

    def __getstate__(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if key not in ("_stemmer", "_memo")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._memo = {}

    @cached_property
    def _stemmer(self):  # type: ignore[no-untyped-def]
        import Stemmer

        return Stemmer.Stemmer(self.stemmer_name)

    def __call__(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text.lower())
        try:
            terms = list(map(self._memo.__getitem__, tokens))
        except KeyError:
            terms = list(map(self._learn(tokens).__getitem__, tokens))
        return [term for term in terms if term is not None]

    def _learn(self, tokens: list[str]) -> dict[str, str | None]:
        """A memo that knows every token of `tokens` (a new one when the current one is full). Memos are
        replaced, never emptied, so a thread keeps a memo that still knows what it learned."""
        memo = self._memo
        distinct = list(dict.fromkeys(tokens))
        if len(memo) + len(distinct) > MEMO_SIZE:
            memo = self._memo = {}
        unknown = [token for token in distinct if token not in memo]
        words = [_POSSESSIVE.sub("", token) for token in unknown]
        stems = iter(self._stemmer.stemWords([word for word in words if word not in self.stopwords]))
        memo.update((token, None if word in self.stopwords else next(stems)) for token, word in zip(unknown, words))
        return memo

    @property
    def config(self) -> dict[str, object]:
        return {"stopwords": "lucene-english" if self.stopwords == LUCENE_ENGLISH_STOPWORDS else "custom",
                "stemmer": self.stemmer_name}
