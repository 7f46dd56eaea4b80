"""Sparse encoders: text -> scipy CSR float32 over the encoder's vocabulary."""

from lexir.encoders.base import EncoderSpec, FittedEncoder, SparseEncoder
from lexir.encoders.bm25 import BM25Encoder
from lexir.encoders.registry import REGISTRY, check_same_encoder, create_encoder, encoder_from_spec
from lexir.encoders.splade import SpladeEncoder

__all__ = ["BM25Encoder", "EncoderSpec", "FittedEncoder", "REGISTRY", "SparseEncoder", "SpladeEncoder",
           "check_same_encoder", "create_encoder", "encoder_from_spec"]
