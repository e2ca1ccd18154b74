"""Retrieval evaluation of a collection (docs/adr/0099-retrieval-evaluation.md).

- ``metrics.py``: nDCG@k, recall@k and the reciprocal rank, trec_eval's definitions;
  ``bench/scifact.py`` computes its figures with the same functions.
- ``services.py``: test questions (entered, uploaded as CSV/JSONL) and starting a run.
- ``runs.py``: a run's body (every question through ``knowledge_base.retrieval.search``
  in each mode and top_k), its lease and the sweep that resumes a run whose worker died.
- ``selectors.py``: reads.
"""
