"""lexir: learned sparse retrieval over an on-disk inverted index."""

__version__ = "0.1.0"
