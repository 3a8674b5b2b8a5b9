"""Ingest (PRODUCT.md §3): stream lines in, content-addressed evidence out; nothing else.

``streams`` (bytes appended since the last run), ``transforms`` (the twelve built-in and user SQL
transforms), ``materialize`` (one run: :func:`materialize.run`), ``blocks`` (a block of lines staged and
mapped in DuckDB), ``writes`` (a run's day files, written on a thread), ``evidence`` (Parquet parts and day
JSONL), ``journal`` (the commit journal and the root's lock), ``maintenance`` (``compact``,
``rebuild`` of the Parquet parts). Uses only :mod:`lakehouse.core`; what follows a commit (the
catalog, the corpus) is chained by :mod:`lakehouse.pipeline`.
"""
