"""Answer chains, one per route; no I/O at import."""
