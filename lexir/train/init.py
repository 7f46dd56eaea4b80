"""Student initialisations beyond a ready masked LM: `lexir train --student minilm`.

all-MiniLM-L6-v2 (the embedded `minilm`, 6 layers, 384 wide, the bert-base-uncased vocabulary splade-tiny also
uses) ships only its encoder. A SPLADE-style student needs vocabulary logits, so the encoder gets BERT's MLM head
with its decoder tied to the word embeddings (logit of token v = <h', e_v> + bias_v). The head's transform
(dense, GELU, LayerNorm) starts as the identity dense layer with zero bias, so that before any training a token's
logit is the similarity of its (normalized) hidden state to v's embedding, rather than a random projection.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lexir.errors import LexirError

STUDENTS = ("splade-tiny", "minilm")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def minilm_masked_lm(folder: Path) -> Path:
    """The masked-LM folder of MiniLM with a tied MLM head (made once at `folder`, reused after)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import BertForMaskedLM

    from lexir.encoders.hf import resolve_model_folder

    source = Path(resolve_model_folder("minilm"))
    model = BertForMaskedLM.from_pretrained(str(source))
    if model.cls.predictions.decoder.weight.data_ptr() != model.bert.embeddings.word_embeddings.weight.data_ptr():
        raise LexirError("the MiniLM student's MLM decoder is not tied to its word embeddings")
    transform = model.cls.predictions.transform
    with torch.no_grad():
        transform.dense.weight.copy_(torch.eye(transform.dense.weight.shape[0]))
        transform.dense.bias.zero_()
        model.cls.predictions.bias.zero_()
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging))
    for name in _TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    staging.rename(folder)
    return folder


def student_base_model(student: str, base_model: str, default_base: str, cache: Path) -> str:
    """The masked LM a student starts from: `base_model` for splade-tiny students, the MiniLM masked LM (made
    under `cache`) for `minilm`."""
    if student not in STUDENTS:
        raise LexirError(f"unknown --student {student!r}; use one of {', '.join(STUDENTS)}")
    if student == "splade-tiny":
        return base_model
    if base_model != default_base:
        raise LexirError("--student minilm starts from MiniLM; give --student or --base-model, not both")
    return str(minilm_masked_lm(cache / "students" / "minilm-mlm"))
