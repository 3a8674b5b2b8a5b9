"""Vector retrieval (optional, PRODUCT.md §5): embeddings through the gateway, the side-store, the HNSW file.

- ``embed``: the embedding client use (:class:`Embedder`), embedding documents into the side-store, reindex;
- ``store``: the side-store (``rag_vectors`` in the catalog), its exact scan and its save/restore on repair;
- ``index_file``: the disposable HNSW index file, written whole and rebuilt when stale;
- ``search``: :class:`VectorSearch` (index plus exact tail);
- ``fusion``: fusing BM25 and vector rankings (convex combination or reciprocal rank) and the stored weight.
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
    reindex,
    vector_literal,
)
from lakehouse.retrieval.vectors.fusion import (
    DEFAULT_LEXICAL_WEIGHT,
    FUSIONS,
    FusionWeight,
    check_fusion,
    convex_combination,
    fuse,
    reciprocal_rank_fusion,
    store_weight,
    stored_weight,
)
from lakehouse.retrieval.vectors.index_file import (
    BuildProgress,
    IndexFile,
    build_index,
    ensure_index,
    index_path,
    rebuild_after,
    remove_index,
)
from lakehouse.retrieval.vectors.search import METHODS, VectorSearch, check_method
from lakehouse.retrieval.vectors.store import (
    EXACT_SCAN_BELOW,
    document_text,
    exact,
    restore_side_store,
    save_side_store,
    store,
)

__all__ = [
    "DEFAULT_LEXICAL_WEIGHT",
    "EMBEDDING_ENV",
    "EMBED_BATCH",
    "EXACT_SCAN_BELOW",
    "FUSIONS",
    "METHODS",
    "BuildProgress",
    "EmbedReport",
    "Embedder",
    "FusionWeight",
    "IndexFile",
    "ReindexReport",
    "VectorSearch",
    "build_index",
    "check_fusion",
    "check_method",
    "convex_combination",
    "document_text",
    "embed_added",
    "embed_and_store",
    "embed_into_catalog",
    "embed_with_configured_model",
    "embedding_model",
    "ensure_index",
    "exact",
    "fuse",
    "index_path",
    "open_embedder",
    "rebuild_after",
    "reciprocal_rank_fusion",
    "reindex",
    "remove_index",
    "restore_side_store",
    "save_side_store",
    "store",
    "store_weight",
    "stored_weight",
    "vector_literal",
]
