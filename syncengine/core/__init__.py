"""The sync engine's pure core.

Nothing in this package imports Django: template parsing, validation and rendering,
batching, diffing, the outbound HTTP client and the list/property sync protocol live here
so they can be unit-tested and benchmarked without a database. A test enforces the rule.
"""
