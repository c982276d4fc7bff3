"""Read a Prometheus text exposition back into numbers, with prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text_or_registry: str | CollectorRegistry, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    text = (
        generate_latest(text_or_registry).decode()
        if isinstance(text_or_registry, CollectorRegistry)
        else text_or_registry
    )
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples(text).items() if n == name and wanted <= lbls)


def label_values(text_or_registry: str | CollectorRegistry, name: str, label: str) -> set[str]:
    text = (
        generate_latest(text_or_registry).decode()
        if isinstance(text_or_registry, CollectorRegistry)
        else text_or_registry
    )
    return {dict(lbls)[label] for (n, lbls) in samples(text) if n == name and label in dict(lbls)}
