"""Throughput of LocalEmbedder against a bare onnxruntime session doing the same work.

Run from the repository root: ``python bench/embeddings.py`` (70-90 s on 2 cores);
``--quick`` times each case for a quarter of the time and skips batch 8 (~15 s).

Both sides do the whole job on every call: tokenize (the same tokenizer.json configured
the same way, the same ``encode_batch_fast`` call), run the model, mean-pool and
L2-normalise. The bare side is the shortest hand-written version of that: its own
InferenceSession on the same model file, no checks, no sorting, no result object. The
difference is the layer's overhead alone. Its session takes onnxruntime's defaults except
for the two the layer sets too: the same intra-op threads (LOCAL_EMBEDDER_THREADS) and no
spinning (LOCAL_EMBEDDER_SPIN). Spinning must be off on both sides anyway: when two
sessions alternate, each one's busy-waiting idle threads steal the other's cores
(measured: half speed on 2 cores).

Single calls alternate between the two sides in ABBA order, so that load from other
processes hits both sides of each adjacent pair alike. The ratio layer/bare is the median of
the per-pair ratios; on a busy machine it is steadier than comparing fastest calls, which
rests on one lucky call per side (shown in brackets, with each side's fastest call).
PASS: layer/bare >= 0.9.

The model's run time dwarfs the layer's own work and is what a busy machine disturbs. So
each case is timed a second time with both sessions replaced by a replay of their recorded
output: what remains is the Python and tokenizer work, and "glue" is the layer's extra time
per call, also as a share of a bare call. Unlike the ratio it barely moves with load.

Results go to bench/results/embeddings-<UTC timestamp>.json and embeddings-latest.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script, not installed: make the app importable

import onnxruntime as ort  # noqa: E402
import tokenizers  # noqa: E402

from assistants.providers import local_embedder as le  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
BATCH_SIZES = (1, 8, 32)
MIN_RATIO = 0.9  # the layer may cost at most 10% of bare throughput
CASE_SECONDS = 8.0  # per case, both sides together
MIN_PAIRS = 6  # the slowest case (chunk x32, ~1 s a call) still gets this many calls a side
GLUE_SECONDS = 0.6  # per case with the model replayed; calls then take micro- to milliseconds

Embed = Callable[[list[str]], np.ndarray]

_SUBJECTS = ("my password", "the invoice", "our tenant", "the assistant", "this workflow")
_ASKS = ("How do I reset", "Where can I find", "Why did we lose", "Who can change", "Can I export")
_FILLER = (
    "Each tenant keeps its documents in a separate schema, so one assistant never reads "
    "another customer's knowledge base. Chunks are embedded locally, stored next to their "
    "source, and re-ranked before the model answers. "
)


def short_texts(count: int) -> list[str]:
    """Distinct questions of about 15 word pieces each."""
    return [
        f"{_ASKS[i % 5]} {_SUBJECTS[(i // 5) % 5]} settings for team number {i} today?"
        for i in range(count)
    ]


def chunk_texts(count: int) -> list[str]:
    """Distinct passages of about 200 word pieces each, like retrieval chunks."""
    return [f"Section {i}. " + _FILLER * 4 + f"See also section {i + 1}." for i in range(count)]


class ReplaySession:
    """Stands in for an InferenceSession: returns the output first computed for each shape."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._outputs: dict[tuple[int, ...], list[np.ndarray]] = {}

    def run(self, output_names: list[str] | None, feed: dict[str, np.ndarray]) -> Any:
        shape = feed["input_ids"].shape
        if shape not in self._outputs:
            self._outputs[shape] = self._session.run(output_names, feed)
        return self._outputs[shape]


def bare_session(model_path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = le.threads_from_env()
    spin = "1" if le.spin_from_env() else "0"  # as the layer; see the module docstring
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def make_bare(session: Any, tokenizer_path: Path) -> Embed:
    """The same pipeline written directly against onnxruntime and tokenizers."""
    tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(max_length=le.MAX_SEQ_LENGTH)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"))

    def embed(texts: list[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch_fast(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = session.run(None, feed)
        weights = mask.astype(np.float32)
        pooled = np.matmul(weights[:, None, :], hidden)[:, 0, :] / weights.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return embed


def make_layer(embedder: le.LocalEmbedder, batch_size: int) -> Embed:
    return lambda texts: embedder.embed(texts, batch_size=batch_size).vectors


def replayed(embedder: le.LocalEmbedder) -> le.LocalEmbedder:
    """A copy of the embedder whose model is replayed (reaches into a private attribute)."""
    clone = copy.copy(embedder)
    clone._session = ReplaySession(embedder._session)
    return clone


def alternate(
    layer: Embed, bare: Embed, texts: list[str], seconds: float
) -> dict[str, list[float]]:
    """Seconds per call of each side, single calls alternating ABBA for ``seconds``."""
    layer(texts)  # warm-up: first runs allocate arenas and fill replay caches
    bare(texts)
    times: dict[str, list[float]] = {"layer": [], "bare": []}
    sides = (("layer", layer), ("bare", bare))
    started = time.perf_counter()
    pairs = 0
    while pairs < MIN_PAIRS or time.perf_counter() - started < seconds:
        for name, embed in sides if pairs % 2 == 0 else reversed(sides):
            call_started = time.perf_counter()
            embed(texts)
            times[name].append(time.perf_counter() - call_started)
        pairs += 1
    return times


def summarise(times: dict[str, list[float]], glue: dict[str, list[float]], n: int) -> dict:
    best = {side: min(calls) for side, calls in times.items()}
    median = {side: statistics.median(calls) for side, calls in times.items()}
    paired = [b / a for a, b in zip(times["layer"], times["bare"], strict=True)]
    glue_s = min(glue["layer"]) - min(glue["bare"])
    ratio = statistics.median(paired)
    return {
        "layer_per_s": n / median["layer"],
        "bare_per_s": n / median["bare"],
        "ratio": ratio,
        "layer_best_per_s": n / best["layer"],
        "bare_best_per_s": n / best["bare"],
        "best_ratio": best["bare"] / best["layer"],
        "calls_per_side": len(times["layer"]),
        "glue_us_per_call": glue_s * 1e6,
        "glue_share_of_bare_call": glue_s / best["bare"],
        "pass": ratio >= MIN_RATIO,
    }


def check_same_vectors(layer: Embed, bare: Embed, texts: list[str]) -> float:
    """Largest absolute difference: the comparison only counts if both compute the same."""
    return float(np.abs(layer(texts) - bare(texts)).max())


HEADER = (
    f"{'case':<10}{'tok/text':>9}{'layer texts/s':>21}{'bare texts/s':>21}"
    f"{'layer/bare':>17}{'glue us':>9}{'glue %':>8}  result"
)


def format_row(case: dict[str, Any]) -> str:
    def pair(typical: float, best: float, digits: int) -> str:
        return f"{typical:.{digits}f} ({best:.{digits}f})"

    verdict = "PASS" if case["pass"] else "FAIL"
    if not case["pass"] and case["glue_share_of_bare_call"] < 1 - MIN_RATIO:
        verdict += " (glue is small: machine busy?)"
    return (
        f"{case['texts']} x{case['batch']:<4}{case['tokens_per_text']:>9.1f}"
        f"{pair(case['layer_per_s'], case['layer_best_per_s'], 1):>21}"
        f"{pair(case['bare_per_s'], case['bare_best_per_s'], 1):>21}"
        f"{pair(case['ratio'], case['best_ratio'], 3):>17}"
        f"{case['glue_us_per_call']:>9.0f}{case['glue_share_of_bare_call']:>8.1%}  {verdict}"
    )


def write_results(
    cases: list[dict], elapsed: float, seconds: float, load: list[float], *, quick: bool = False
) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "local embeddings: LocalEmbedder vs bare onnxruntime session",
        "quick": quick,
        "method": (
            "both sides tokenize + run + mean-pool + normalise on every call; single calls "
            f"alternated ABBA for >= {seconds}s and >= {MIN_PAIRS} calls a side; texts/s from "
            "each side's median call (fastest call also given); ratio = median over adjacent "
            "call pairs of bare_time/layer_time (best_ratio: on the fastest calls); glue = "
            "layer's extra time per call with both sessions replaced by a replay of their output"
        ),
        "timestamp_utc": stamp,
        "elapsed_s": round(elapsed, 1),
        "load_average_1min": {"start": load[0], "end": load[1]},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
            le.THREADS_ENV: os.environ.get(le.THREADS_ENV, ""),
            le.SPIN_ENV: os.environ.get(le.SPIN_ENV, ""),
        },
        "model_sha256": le.MODEL_SHA256,
        "min_ratio": MIN_RATIO,
        "cases": cases,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    for name in (f"embeddings-{stamp}.json", "embeddings-latest.json"):
        (RESULTS_DIR / name).write_text(text)
    print(f"wrote {RESULTS_DIR / f'embeddings-{stamp}.json'} and embeddings-latest.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="time per case")
    parser.add_argument(
        "--quick", action="store_true", help="a quarter of the time per case, batches 1 and 32"
    )
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = CASE_SECONDS / 4 if args.quick else CASE_SECONDS
    batch_sizes = (1, 32) if args.quick else BATCH_SIZES

    if le.spin_from_env():
        print(f"warning: {le.SPIN_ENV} is on: the two sessions will slow each other down")
    embedder = le.get_local_embedder()
    model_path = le.packaged_file(le.MODEL_DISTRIBUTION, le.MODEL_FILE)
    tokenizer_path = le.packaged_file(le.TOKENIZER_DISTRIBUTION, le.TOKENIZER_FILE)
    session = bare_session(model_path)
    bare = make_bare(session, tokenizer_path)
    bare_replayed = make_bare(ReplaySession(session), tokenizer_path)
    embedder_replayed = replayed(embedder)
    corpora = {"short": short_texts(max(BATCH_SIZES)), "chunk": chunk_texts(max(BATCH_SIZES))}

    started = time.perf_counter()
    load = [os.getloadavg()[0]]
    cases = []
    print(HEADER, "-" * len(HEADER), sep="\n")
    for kind, corpus in corpora.items():
        tokens = embedder.embed(corpus).prompt_tokens / len(corpus)
        for batch in batch_sizes:
            texts = corpus[:batch]
            layer = make_layer(embedder, batch)
            times = alternate(layer, bare, texts, args.seconds)
            glue = alternate(
                make_layer(embedder_replayed, batch), bare_replayed, texts, GLUE_SECONDS
            )
            case = {"texts": kind, "batch": batch, "tokens_per_text": tokens}
            case["max_abs_diff"] = check_same_vectors(layer, bare, texts)
            case |= summarise(times, glue, len(texts))
            cases.append(case)
            print(format_row(case), flush=True)
    elapsed = time.perf_counter() - started
    load.append(os.getloadavg()[0])
    print(
        f"\n{len(cases)} cases in {elapsed:.0f}s on {os.cpu_count()} CPUs, "
        f"1-min load average {load[0]:.2f} -> {load[1]:.2f}.\n"
        "texts/s: median call (fastest call); layer/bare: median of adjacent call pairs "
        "(fastest calls);\n"
        "glue: the layer's extra time per call with the model replayed, and its share of a "
        "bare call."
    )
    write_results(cases, elapsed, args.seconds, load, quick=args.quick)
    return 0 if all(case["pass"] for case in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
