"""Vector retrieval (optional, PRODUCT.md §5): embeddings through the gateway, the side-store, the HNSW file.

- ``embed``: the embedding client use (:class:`Embedder`), embedding documents into the side-store, reindex;
- ``store``: the side-store (``rag_vectors`` in the catalog), its exact scan and its save/restore on repair;
- ``index_file``: the disposable HNSW index file, written whole and rebuilt when stale;
- ``search``: :class:`VectorSearch` (index plus exact tail) and reciprocal rank fusion with BM25.
"""

from lakehouse.retrieval.vectors.embed import (
    EMBED_BATCH,
    EMBEDDING_ENV,
    Embedder,
    EmbedReport,
    ReindexReport,
    embed_added,
    embed_and_store,
    embed_into_catalog,
    embed_with_configured_model,
    embedding_model,
    open_embedder,
    rebuild_after,
    reindex,
    vector_literal,
)
from lakehouse.retrieval.vectors.index_file import IndexFile, build_index, index_path, remove_index
from lakehouse.retrieval.vectors.search import METHODS, VectorSearch, check_method, reciprocal_rank_fusion
from lakehouse.retrieval.vectors.store import (
    EXACT_SCAN_BELOW,
    document_text,
    exact,
    restore_side_store,
    save_side_store,
    store,
)

__all__ = [
    "EMBEDDING_ENV",
    "EMBED_BATCH",
    "EXACT_SCAN_BELOW",
    "METHODS",
    "EmbedReport",
    "Embedder",
    "IndexFile",
    "ReindexReport",
    "VectorSearch",
    "build_index",
    "check_method",
    "document_text",
    "embed_added",
    "embed_and_store",
    "embed_into_catalog",
    "embed_with_configured_model",
    "embedding_model",
    "exact",
    "index_path",
    "open_embedder",
    "rebuild_after",
    "reciprocal_rank_fusion",
    "reindex",
    "remove_index",
    "restore_side_store",
    "save_side_store",
    "store",
    "vector_literal",
]
