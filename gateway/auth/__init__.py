"""Client authentication (HTTP Basic, Bearer) and per-experiment permissions, off by default."""
