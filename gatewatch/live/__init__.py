"""The live view: per-process state, the JSON endpoint, and the snapshot files that merge
worker processes."""
