"""Small builders used by several test modules."""

from __future__ import annotations

import json
from pathlib import Path

from tests.texts import DOCUMENTS


def write_jsonl(path: Path, documents=DOCUMENTS) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for doc_id, title, text in documents:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    return path
