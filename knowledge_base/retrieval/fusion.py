"""Hybrid ranking: reciprocal rank fusion of the vector and keyword lists."""

from __future__ import annotations

from collections import defaultdict

from knowledge_base.retrieval.hits import Hit

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al.)


def reciprocal_rank_fusion(
    ranked: list[tuple[list[Hit], float]], *, limit: int, k: int = RRF_K
) -> list[Hit]:
    """Fuse ranked lists: score = sum(weight / (k + rank)). Robust to the lists'
    incomparable raw scores (cosine similarity vs. ts_rank)."""
    fused: dict[int, float] = defaultdict(float)
    by_id: dict[int, Hit] = {}
    for position, (hits, weight) in enumerate(ranked):
        for rank, hit in enumerate(hits, start=1):
            fused[hit.chunk_id] += weight / (k + rank)
            kept = by_id.setdefault(hit.chunk_id, hit)
            if position == 0:
                kept.vector_rank = rank
            else:
                kept.keyword_rank = rank
    ordered = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))[:limit]
    results = []
    for chunk_id in ordered:
        hit = by_id[chunk_id]
        hit.score = round(fused[chunk_id], 6)
        results.append(hit)
    return results
