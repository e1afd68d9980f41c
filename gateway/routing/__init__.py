"""Which destination serves an experiment: the routing table, the stores, the merged root."""
