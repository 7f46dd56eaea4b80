"""Tiny random-initialised models of real architectures, with real tokenizers trained here, saved as folders.

No LLM checkpoint can be downloaded in CI, so the LLM-backbone encoders are tested on models of the same classes
(MistralForCausalLM, LlamaForCausalLM, BertForMaskedLM) with a few dimensions: 2 layers, hidden size 32. Their
tokenizers are trained by `tokenizers` on the test corpus in the three families lexir meets: byte-level BPE
(GPT-2 / Mistral-Nemo / Llama-3 style, pieces such as "Ġword"), SentencePiece-style BPE (Llama-2 / Mistral-7B style,
"▁word") and BERT WordPiece. The folders are what `save_pretrained` writes, so they load through the path hub
checkpoints take. Weights are random: these models test code paths and the papers' arithmetic, never relevance.
"""

from __future__ import annotations

from pathlib import Path

from tests.texts import DOCUMENTS, QUERIES

SAMPLE = [f"{title}. {text}" for _, title, text in DOCUMENTS] + QUERIES + [
    "Café crème, naïve résumé: 東京 and emoji 🙂 survive byte-level pieces.",
    "what about it? and the other one? tell me more",
]
HIDDEN = 32
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def _train(tokenizer, trainer) -> None:
    tokenizer.train_from_iterator(SAMPLE * 3, trainer)


def byte_level_bpe():
    """A GPT-2-style byte-level BPE: every byte has a piece, a leading space is "Ġ"."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    _train(tokenizer, trainers.BpeTrainer(vocab_size=600, special_tokens=["<s>", "</s>", "<pad>"],
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[
        ("<s>", tokenizer.token_to_id("<s>"))])
    return tokenizer, {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}


def sentencepiece_bpe():
    """A SentencePiece-style BPE (Metaspace: a word's first piece starts with "▁"), with an unknown token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    _train(tokenizer, trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"]))
    return tokenizer, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def wordpiece():
    """BERT's pipeline: lowercasing normalizer, BertPreTokenizer, WordPiece ("##" continuations), [CLS] x [SEP]."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    _train(tokenizer, trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                                                "[MASK]"]))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))])
    return tokenizer, {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                       "mask_token": "[MASK]"}


def save_model(folder: Path, architecture: str, seed: int = 0) -> Path:
    """Write a tiny `architecture` ("mistral", "llama" or "bert") model and its tokenizer to `folder`."""
    import torch
    import transformers

    tokenizer, specials = {"mistral": byte_level_bpe, "llama": sentencepiece_bpe, "bert": wordpiece}[architecture]()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, **specials)
    if architecture == "llama":  # an instruct-style chat template (Zephyr-like turns), for PromptReps' chat path
        fast.chat_template = CHAT_TEMPLATE
    sizes = {"vocab_size": tokenizer.get_vocab_size(), "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN,
             "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 1024}
    if architecture == "bert":
        config = transformers.BertConfig(**sizes, pad_token_id=fast.pad_token_id)
        model_class = transformers.BertForMaskedLM
    else:
        config_class, model_class = {"mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
                                     "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM)}[architecture]
        config = config_class(**sizes, num_key_value_heads=2, bos_token_id=fast.bos_token_id,
                              eos_token_id=fast.eos_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():  # logits of a few units, so that log(1 + relu) keeps a readable share of the vocabulary
        model.get_output_embeddings().weight.normal_(0.0, 0.3)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
