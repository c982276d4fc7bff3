"""A Prometheus server read as the dashboard's source (the fleet view): PromQL from
:mod:`gatewatch.queries`, shared with the Grafana boards and rules."""

from __future__ import annotations

import math
from typing import Any

from gatewatch.queries import fleet
from gatewatch_dashboard.http_source import HTTPSource, label_of
from gatewatch_dashboard.model import InterfaceStats, Reading

WINDOW = "1m"
# The fleet's Overview, one PromQL query a column, shared with the Grafana boards and rules.
QUERIES: dict[str, str] = fleet(WINDOW)


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


class PrometheusSource(HTTPSource):
    """A Prometheus server's query API: the Overview for the whole fleet (every instance it
    scrapes), through PromQL over the last minute."""

    kind = "prometheus"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url.rstrip("/"), **kwargs)
        self.name = f"prometheus {label_of(url)}"

    async def _fetch(self) -> Reading:
        results: dict[str, dict[str, float | None]] = {}
        for key, query in QUERIES.items():
            response = await self._get(self.url + "/api/v1/query", query=query)
            results[key] = self.vector(response.json())
        return self.reading_from(results)

    @staticmethod
    def vector(body: object) -> dict[str, float | None]:
        """interface -> value, from a query API answer holding an instant vector."""
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ValueError(f"Prometheus answered {str(body)[:120]}")
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise ValueError("Prometheus answered something other than an instant vector")
        found: dict[str, float | None] = {}
        for item in data.get("result", []):
            if isinstance(item, dict) and isinstance(item.get("metric"), dict):
                value = item.get("value")
                interface = str(item["metric"].get("interface", ""))
                if isinstance(value, list) and len(value) == 2:
                    found[interface] = _number(value[1])
        return found

    def reading_from(self, results: dict[str, dict[str, float | None]]) -> Reading:
        interfaces = sorted(
            {name for name in results.get("rate", {}) if name} | set(results.get("in_flight", {}))
        )

        def get(key: str, interface: str) -> float | None:
            return results.get(key, {}).get(interface)

        stats = []
        for interface in interfaces:
            in_flight, instances = get("in_flight", interface), get("instances", interface)
            busy, capacity = get("busy", interface), get("capacity", interface)
            stats.append(
                InterfaceStats(
                    interface=interface,
                    server="PromQL",
                    processes=int(instances or 0),
                    rate=get("rate", interface),
                    p50=get("p50", interface),
                    p95=get("p95", interface),
                    p99=get("p99", interface),
                    error_rate=get("errors", interface),
                    in_flight=None if in_flight is None else int(in_flight),
                    concurrency=get("concurrency", interface),
                    blocking_share=get("blocking", interface),
                    lag_p99=get("lag_p99", interface),
                    after_response=get("after", interface),
                    queue=get("queue", interface),
                    busy=None if busy is None else int(busy),
                    capacity=None if not capacity else int(capacity),
                )
            )
        return Reading(source=self.name, kind=self.kind, interfaces=tuple(stats))
