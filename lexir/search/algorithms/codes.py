"""Small integer codes of the algorithms, so that one parallel batch loop can run a different one per query."""

EXHAUSTIVE, MAXSCORE, BLOCK_MAX_MAXSCORE, AUTO = 0, 1, 2, 3
