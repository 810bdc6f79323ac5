"""Caching of upstream reads: in-process TTL/LRU store, request coalescing, invalidation by writes."""
