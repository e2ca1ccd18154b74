"""Ranking metrics over documents, shared by the product's evaluation runs and by
``bench/scifact.py``, so the page and the bench cannot disagree.

Hits are chunks; the metrics are over documents: ``ranked_documents`` keeps each
document once, at its best-ranked chunk (as BEIR counts a paper once). ``relevance`` maps
a document id to its grade (> 0 is relevant); nDCG uses the grade as a linear gain and
the ideal ranking of the judged documents (trec_eval's ``ndcg_cut``), recall is relevant
found / relevant judged, the reciprocal rank is 1 / the rank of the first relevant
document (0 when none is found). A question with no hit scores 0 on all three.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

CUTOFF = 10  # nDCG@10 and recall@10


def ranked_documents(document_ids: Iterable[Hashable]) -> list:
    """Document ids in rank order, each once, at its best-ranked chunk."""
    return list(dict.fromkeys(document_ids))


def ndcg_at(ranked: Sequence, relevance: Mapping, k: int) -> float:
    """trec_eval's nDCG@k: linear gain, log2(rank + 1) discount, ideal from the qrels."""
    dcg = sum(
        relevance.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1)
    )
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence, relevance: Mapping, k: int) -> float:
    relevant = {doc for doc, grade in relevance.items() if grade > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence, relevance: Mapping) -> float:
    for rank, doc in enumerate(ranked, start=1):
        if relevance.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


@dataclass(frozen=True)
class QuestionScore:
    ndcg_at_10: float
    recall_at_10: float
    reciprocal_rank: float


def question_score(ranked: Sequence, relevance: Mapping) -> QuestionScore:
    """One question's figures from its ranked documents."""
    return QuestionScore(
        ndcg_at_10=ndcg_at(ranked, relevance, CUTOFF),
        recall_at_10=recall_at(ranked, relevance, CUTOFF),
        reciprocal_rank=reciprocal_rank(ranked, relevance),
    )


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
