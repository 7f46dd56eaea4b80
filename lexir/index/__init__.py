"""The on-disk inverted index: format, quantization, document store, builder, reader."""

from lexir.index.builder import BuildReport, build_index
from lexir.index.reader import InvertedIndex

__all__ = ["BuildReport", "InvertedIndex", "build_index"]
