"""What every stage stands on; imports nothing of lakehouse above it.

``errors`` (the exception hierarchy and exit codes), ``types`` (shared records), ``paths`` (the root
and everything under ``data/``), ``files`` (atomic writes, locked appends, group commit, locks, early writeback),
``db`` (DuckDB connections, offline extensions), ``sqlfiles`` (``sql/`` loaded by name, quoting),
``collector`` (the garbage collector paused while records are built in bulk),
``coalesce`` (concurrent callers' items flushed together), ``prefetch`` (an iterator run ahead on a thread), ``failpoints`` (crash points for tests),
``outbox`` (markers of commits a joined root still owes its lake), ``stop`` (a stop request a signal handler can make).
"""
