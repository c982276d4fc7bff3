"""Where measurements go: Prometheus (one process and many), OpenTelemetry, and the live view."""
