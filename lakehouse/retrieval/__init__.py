"""Retrieval (PRODUCT.md §5): the RAG corpus and DuckDB queries over it, BM25 first, vectors optional.

- ``corpus``: the corpus file ``data/_kb/rag_corpus.jsonl`` and documents distilled from playbook evidence;
- ``distil``: which runs' playbooks the corpus is owed (:func:`distil.pending`, :func:`distil.record`);
- ``index``: the BM25 index in the catalog (tokenizer, postings, incremental adds);
- ``adds``: documents appended to the corpus file and indexed at once (``add_documents``, ``add_playbooks``);
- ``scoring``: one DuckDB statement per search (:func:`search`, :func:`ranked`, :func:`ranked_many`);
- ``searcher``: :class:`Searcher`, a long-lived connection for many threads (coalesced adds and queries);
- ``vectors``: embeddings, the side-store, the HNSW file and fusion;
- ``tuning``: calibrating hybrid retrieval's fusion weight per corpus (:func:`tune_fusion`).

Reads evidence (for the corpus) and uses the gateway (for embeddings); nothing above.
"""

from lakehouse.core.types import Hit
from lakehouse.retrieval.adds import add_documents, add_playbooks
from lakehouse.retrieval.index import (
    Appended,
    IndexView,
    append_new_documents,
    catch_up,
    index_and_record,
    index_documents,
    is_current,
    prepare,
    query_terms,
    refresh,
    reindex,
    tokenize,
)
from lakehouse.retrieval.scoring import PREPARE_ON_USE, TIE_LOOKAHEAD, documents, ranked, ranked_many, search
from lakehouse.retrieval.searcher import Searcher
from lakehouse.retrieval.tuning import tune_fusion

__all__ = [
    "PREPARE_ON_USE",
    "TIE_LOOKAHEAD",
    "Appended",
    "Hit",
    "IndexView",
    "Searcher",
    "add_documents",
    "add_playbooks",
    "append_new_documents",
    "catch_up",
    "documents",
    "index_and_record",
    "index_documents",
    "is_current",
    "prepare",
    "query_terms",
    "ranked",
    "ranked_many",
    "refresh",
    "reindex",
    "search",
    "tokenize",
    "tune_fusion",
]
