"""Vocabulary pieces as people read them: "##ing" -> "ing", "▁word" -> "word", "Ġcaf\u00c3\u00a9" -> "café".

An index's terms are its tokenizer's own pieces, kept as they are everywhere they are keys (postings, exports,
`explain`'s JSON), since "word" and "Ġword" are different terms. Displays (the CLI's explain column, the search
page's highlighting, which does the same in JavaScript) show the text a piece stands for:
- WordPiece marks a word's continuation with "##";
- SentencePiece marks a word's start with "▁" (U+2581) and may hold raw bytes as "<0xNN>";
- byte-level BPE (GPT-2, Llama-3, Mistral-Nemo, Qwen) writes each byte as one printable character: bytes
  that are printable in Latin-1 as themselves, the 68 others as U+0100 onwards in byte order; a space is "Ġ".
"""

from __future__ import annotations

import re
from functools import cache

BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@cache
def byte_level_alphabet() -> dict[str, int]:
    """{character: byte} of byte-level BPE: printable Latin-1 bytes are themselves, the rest U+0100 + n."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    moved = [byte for byte in range(256) if byte not in printable]
    return {**{chr(byte): byte for byte in printable}, **{chr(256 + n): byte for n, byte in enumerate(moved)}}


def readable(piece: str) -> str:
    """The text a vocabulary piece stands for, without its word-boundary marks (the piece itself when it is not
    valid text once decoded, e.g. half of a multi-byte character)."""
    if piece.startswith("##"):
        return piece[2:]
    if "▁" in piece or BYTE_FALLBACK.search(piece):
        parts = BYTE_FALLBACK.split(piece.replace("▁", " "))  # text, byte, text, byte, ..., text
        raw = b"".join(bytes([int(part, 16)]) if i % 2 else part.encode("utf-8") for i, part in enumerate(parts))
        try:
            return raw.decode("utf-8").strip() or piece
        except UnicodeDecodeError:
            return piece
    alphabet = byte_level_alphabet()
    if any(ord(char) >= 256 for char in piece) and all(char in alphabet for char in piece):
        try:
            return bytes(alphabet[char] for char in piece).decode("utf-8").strip() or piece
        except UnicodeDecodeError:
            return piece
    return piece
