"""Training inference-free sparse encoders (IDF-aware FLOPS, heterogeneous ensemble distillation)."""
