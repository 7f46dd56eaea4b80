"""CPU encoding speed of the LLM-backbone encoders on a small causal-LM config, against SPLADE-tiny in the same run,
and the arithmetic of what Mistral-7B would need on a GPU.

    python benchmarks/llm_encoding.py            # 128 imdb reviews
    python benchmarks/llm_encoding.py --quick    # 32 reviews

No LLM weights can be downloaded here, so the causal LM is a random-initialised MistralForCausalLM of a small
config (SMALL below: 4 layers, hidden 256, Mistral-7B's vocabulary size of 32,000) with a byte-level BPE trained
on the reviews; speed does not depend on the weights' values. Encoders, max length 256 text tokens, batch 16, fp32,
the machine's torch threads: splade-tiny (the anchor), echo-splade (the text twice, the second copy pooled) and
PromptReps (the prompt around the text, both sides from one pass). They take turns chunk by chunk (their order
rotating) so that a slow minute of a shared machine falls on all alike. Printed: docs/s, model tokens/s (the
tokens each model runs: echo twice the text, PromptReps the prompt too) and the ratio to splade-tiny's docs/s.
The last line is arithmetic, not measured: Mistral-7B's parameters from its published config, bf16 weight
memory, FLOPs per passage with echo pooling (2 x parameters x tokens; attention's quadratic term left out) and
GPU hours for MS MARCO at a stated sustained rate.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from itertools import islice
from pathlib import Path

import torch

from lexir.encoders import create_encoder

IMDB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpora" / "imdb-100k.jsonl.gz"
MAX_LENGTH, BATCH, CHUNK = 256, 16, 16
SMALL = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
         "num_key_value_heads": 4, "vocab_size": 32000}
MISTRAL_7B = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
              "num_key_value_heads": 8, "vocab_size": 32000}  # mistralai/Mistral-7B-v0.1 config.json
MSMARCO_PASSAGES, MSMARCO_TOKENS = 8_841_823, 80  # passages; ~80 Mistral tokens a passage is an assumption


def parameters(config: dict[str, int]) -> int:
    """Parameters of a Mistral/Llama config: embeddings, untied head, attention (grouped KV), gated MLP, norms."""
    h = config["hidden_size"]
    kv = h // config["num_attention_heads"] * config["num_key_value_heads"]
    layer = 2 * h * h + 2 * h * kv + 3 * h * config["intermediate_size"] + 2 * h
    return 2 * config["vocab_size"] * h + config["num_hidden_layers"] * layer + h


def small_model(folder: Path, texts: list[str]) -> Path:
    """A random MistralForCausalLM of SMALL with a byte-level BPE trained on `texts`, saved as a model folder."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=8000, special_tokens=["<s>", "</s>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>")
    torch.manual_seed(0)
    config = transformers.MistralConfig(**SMALL, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                                        tie_word_embeddings=False)
    transformers.MistralForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with gzip.open(IMDB, "rt", encoding="utf-8") as lines:
        reviews = [json.loads(line)["text"] for line in islice(lines, 2000)]
    texts = reviews[:32 if args.quick else 128]
    with tempfile.TemporaryDirectory() as work:
        folder = small_model(Path(work) / "mistral-small", reviews)
        encoders = {
            "splade-tiny": create_encoder("splade-tiny", batch_size=BATCH, max_doc_length=MAX_LENGTH),
            "echo-splade": create_encoder(str(folder), batch_size=BATCH, max_doc_length=MAX_LENGTH),
            "promptreps": create_encoder(f"promptreps:{folder}", batch_size=BATCH, max_doc_length=MAX_LENGTH),
        }
        dense = encoders["promptreps"].dense_side()
        run = {"splade-tiny": encoders["splade-tiny"].encode_documents,
               "echo-splade": encoders["echo-splade"].encode_documents,
               "promptreps": lambda chunk: (encoders["promptreps"].encode_documents(chunk),
                                            dense.encode_documents(chunk))}
        tokens = {"splade-tiny": sum(len(ids) for ids in encoders["splade-tiny"].tokenizer(
                      texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]),
                  "echo-splade": sum(len(ids) for ids, _, _ in encoders["echo-splade"].echo_inputs(texts, MAX_LENGTH)),
                  "promptreps": sum(len(encoders["promptreps"].shared.prompt_ids(text, "doc")) for text in texts)}
        for encode in run.values():
            encode(texts[:BATCH])  # warm-up: models loaded, first-call costs paid
        spent = dict.fromkeys(run, 0.0)
        names = list(run)
        for number, start in enumerate(range(0, len(texts), CHUNK)):
            for name in names[number % len(names):] + names[:number % len(names)]:
                started = time.perf_counter()
                run[name](texts[start:start + CHUNK])
                spent[name] += time.perf_counter() - started
    small = parameters(SMALL)
    print(f"{len(texts)} imdb reviews, max {MAX_LENGTH} text tokens, batch {BATCH}, fp32, {torch.get_num_threads()} "
          f"torch threads; small Mistral config {SMALL} = {small / 1e6:.1f} M parameters (random weights)")
    anchor = len(texts) / spent["splade-tiny"]
    for name in run:
        docs = len(texts) / spent[name]
        print(f"  {name:12s} {docs:8.1f} docs/s  {tokens[name] / spent[name]:9.0f} model tokens/s  "
              f"{docs / anchor:5.2f} x splade-tiny")
    big = parameters(MISTRAL_7B)
    echo_tokens = 2 * MSMARCO_TOKENS + 1
    per_doc = 2 * big * echo_tokens
    print(f"Mistral-7B arithmetic (not measured): {big / 1e9:.2f} B parameters, {2 * big / 2**30:.1f} GiB of bf16 "
          f"weights; echo pooling of an {MSMARCO_TOKENS}-token passage runs {echo_tokens} tokens = "
          f"{per_doc / 1e12:.2f} TFLOP; MS MARCO ({MSMARCO_PASSAGES:,} passages) = {MSMARCO_PASSAGES * per_doc:.2e} "
          f"FLOP = {MSMARCO_PASSAGES * per_doc / 300e12 / 3600:.1f} GPU-hours at a sustained 300 TFLOP/s bf16")


if __name__ == "__main__":
    main()
