"""Whether numba caches compiled kernels on disk (LEXIR_NUMBA_CACHE=0 turns it off): one switch for the search
kernels and the posting codec."""

import os

CACHE = os.environ.get("LEXIR_NUMBA_CACHE", "1") != "0"
