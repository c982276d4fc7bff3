"""`gatewatch demo`: real servers side by side, traffic, and the report."""
