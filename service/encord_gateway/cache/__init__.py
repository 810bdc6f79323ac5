"""Caching of upstream reads: a backend interface, the in-process backend, coalescing, invalidation by writes."""

from .backend import CacheBackend, CacheKey, Fetch
from .memory import MemoryCache

__all__ = ["CacheBackend", "CacheKey", "Fetch", "MemoryCache"]
