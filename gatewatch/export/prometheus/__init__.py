"""Prometheus export: the single-process collector, prometheus-client's multiprocess mode, the
scrape pages, and the server-wide label caps."""
