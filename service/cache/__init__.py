"""The read tier's cache: the cache, its keys, and where it keeps its entries."""
