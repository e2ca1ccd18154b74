"""Hybrid ranking: reciprocal rank fusion of the vector and keyword lists."""

from __future__ import annotations

from collections import defaultdict

from knowledge_base.retrieval.hits import Hit

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al.)


def reciprocal_rank_fusion(
    ranked: list[tuple[list[Hit], float]],
    *,
    limit: int,
    k: int = RRF_K,
    by_document: bool = False,
) -> list[Hit]:
    """Fuse ranked lists: score = sum(weight / (k + rank)). Robust to the lists'
    incomparable raw scores (cosine similarity vs. ts_rank).

    ``by_document``: the lists rank documents (each document once, at its best chunk), and
    a document's ranks add up whichever chunk stood for it in each list; the hit kept is
    the chunk of the list where the document ranked best (the first list on a tie)."""
    fused: dict = defaultdict(float)
    ranks: dict = defaultdict(dict)  # key -> {list position: rank}
    kept: dict = {}
    for position, (hits, weight) in enumerate(ranked):
        for rank, hit in enumerate(hits, start=1):
            key = hit.document_id if by_document else hit.chunk_id
            if position in ranks[key]:
                continue  # a list names each key once, at its best rank
            better = key not in kept or (by_document and rank < min(ranks[key].values()))
            fused[key] += weight / (k + rank)
            ranks[key][position] = rank
            if better:
                kept[key] = hit
    ordered = sorted(fused, key=lambda key: (-fused[key], kept[key].chunk_id))[:limit]
    results = []
    for key in ordered:
        hit = kept[key]
        hit.score = round(fused[key], 6)
        hit.vector_rank, hit.keyword_rank = ranks[key].get(0), ranks[key].get(1)
        results.append(hit)
    return results
