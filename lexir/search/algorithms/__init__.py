"""Exact top-k algorithms over the posting arrays, by name, and the rule that picks one per query.

| name | paper | module |
|---|---|---|
| exhaustive | term-at-a-time scoring of every matching document | exhaustive.py |
| maxscore | Turtle & Flood 1995 | maxscore.py |
| block_max_maxscore | Chakrabarti et al. 2011, Mallia et al. 2017/2019, windowed as in Lucene | block_max_maxscore.py |

All of them return the same documents with bit-identical scores (see exact.py); `auto` (choice.py)
picks one per query from the index size and the query's posting counts. Every kernel takes the index
as one PostingArrays (postings.py); dispatch.py turns an algorithm name into a kernel call.

Names map to small integer codes so that one parallel batch loop can run a different algorithm per
query. The codes live here, beside the names, and this module imports none of its submodules, so every
kernel module can import them.
"""

from lexir.errors import LexirError

EXHAUSTIVE, MAXSCORE, BLOCK_MAX_MAXSCORE, AUTO = 0, 1, 2, 3
ALGORITHMS = {"auto": AUTO, "exhaustive": EXHAUSTIVE, "maxscore": MAXSCORE, "block_max_maxscore": BLOCK_MAX_MAXSCORE}
ALGORITHM_CHOICES = tuple(ALGORITHMS)


def check_algorithm(name: str) -> str:
    """`name` if it is a known algorithm (or "auto"); else a LexirError listing the valid names."""
    if name not in ALGORITHM_CHOICES:
        raise LexirError(f"unknown search algorithm {name!r}; choose one of {', '.join(ALGORITHM_CHOICES)}")
    return name


MAX_QUERY_CUT = 2**31 - 1  # the kernels take it as a machine integer; no query has more terms


def check_query_cut(value: int | None) -> int | None:
    """None (every query term) or a positive number of query terms to keep (approximate search)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUERY_CUT):
        raise LexirError(f"query cut must be a number of query terms from 1 to {MAX_QUERY_CUT} (or None for all), "
                         f"got {value!r}")
    return value


def check_heap_factor(value: float) -> float:
    """A heap factor in (0, 1]: 1 is exact; smaller values prune harder (approximate search)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise LexirError(f"heap factor must be in (0, 1] (1 = exact search), got {value!r}")
    return float(value)


__all__ = ["ALGORITHMS", "ALGORITHM_CHOICES", "AUTO", "BLOCK_MAX_MAXSCORE", "EXHAUSTIVE", "MAXSCORE",
           "check_algorithm", "check_heap_factor", "check_query_cut"]
