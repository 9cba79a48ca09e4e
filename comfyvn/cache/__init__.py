"""The dedup cache: asset files stored once per content (SHA-256), with refcounts, pins and LRU limits.

See :mod:`comfyvn.cache.cache_manager` and docs/cache.md.
"""
