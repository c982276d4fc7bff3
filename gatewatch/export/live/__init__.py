"""The live view: its typed JSON schema, per-process state, the JSON endpoint, and the snapshot
files that merge worker processes."""
