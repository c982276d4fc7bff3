"""What every gatewatch board shares: its variables, links and datasource, and the four kinds
of panel, built with Grafana's own typed builders (grafana-foundation-sdk).

Every board has the same variables (datasource, job, instance, interface, route), the same
datasource on every panel and query, and panels laid out left to right by the SDK. The boards'
queries come from :mod:`gatewatch.queries`; the selectors here only narrow them to the board's
variables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from grafana_foundation_sdk.builders import common, dashboard, heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import heatmap as heatmap_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

from gatewatch.queries import label_values, matchers, quantile

DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Label selectors, built from the board's variables.
INSTANCE = 'job=~"$job", instance=~"$instance"'
HTTP = matchers(INSTANCE, 'interface=~"$interface"')
ROUTE = matchers(HTTP, 'route=~"$route"')
# Loop blocks and WebSocket sessions have no interface label: they are ASGI's alone.
LOOP_ROUTE = matchers(INSTANCE, 'route=~"$route"')
RATE = "$__rate_interval"

Panel: TypeAlias = timeseries.Panel | stat.Panel | table.Panel | heatmap.Panel
_P = TypeVar("_P", timeseries.Panel, stat.Panel, table.Panel, heatmap.Panel)


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""


def quantiles(
    key: str, sel: str, by: str, legend: str, qs: Sequence[float] = (0.5, 0.95, 0.99)
) -> list[Target]:
    """One line per quantile of a histogram, legends ``{legend} p50`` and so on."""
    return [Target(quantile(q, key, by, sel), f"{legend} p{round(q * 100)}") for q in qs]


def _queries(
    targets: Sequence[Target],
    *,
    instant: bool = False,
    format_val: prometheus_model.PromQueryFormat | None = None,
    exemplar: bool = False,
) -> list[prometheus.Dataquery]:
    built = []
    for index, target in enumerate(targets):
        query = (
            prometheus.Dataquery()
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
            .editor_mode(prometheus_model.QueryEditorMode.CODE)
            .expr(target.expr)
            .legend_format(target.legend or "__auto")
        )
        query = query.instant() if instant else query.range()
        if format_val is not None:
            query.format(format_val)
        if exemplar:
            query.exemplar(True)
        built.append(query)
    return built


def _common(
    panel: _P,
    title: str,
    description: str,
    *,
    unit: str,
    width: int,
    height: int,
    thresholds: Sequence[tuple[float, str]] = (),
    links: Sequence[dashboard.DashboardLink] = (),
) -> _P:
    steps = [dashboard_model.Threshold(color="green", value=None)]
    steps += [dashboard_model.Threshold(color=color, value=value) for value, color in thresholds]
    panel.title(title).description(description).datasource(DATASOURCE).span(width).height(height)
    panel.unit(unit).thresholds(
        dashboard.ThresholdsConfig().mode(dashboard_model.ThresholdsMode.ABSOLUTE).steps(steps)
    )
    if links:
        panel.data_links(list(links))
    return panel


def graph(
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    exemplar: bool = False,
    stack: bool = False,
    thresholds: Sequence[tuple[float, str]] = (),
) -> timeseries.Panel:
    """Lines over time; ``exemplar`` on latency panels links points to traces (see provisioning)."""
    panel = _common(
        timeseries.Panel(), title, description, unit=unit, width=width, height=height, thresholds=thresholds
    )
    panel.targets(list(_queries(targets, exemplar=exemplar)))
    panel.color_scheme(dashboard.FieldColor().mode(dashboard_model.FieldColorModeId.PALETTE_CLASSIC))
    panel.draw_style(common_model.GraphDrawStyle.LINE).line_width(1).fill_opacity(40 if stack else 10)
    panel.show_points(common_model.VisibilityMode.NEVER).span_nulls(False)
    stacking = common_model.StackingMode.NORMAL if stack else common_model.StackingMode.NONE
    panel.stacking(common.StackingConfig().mode(stacking).group("A"))
    line = (
        common_model.GraphThresholdsStyleMode.LINE
        if thresholds
        else common_model.GraphThresholdsStyleMode.OFF
    )
    panel.thresholds_style(common.GraphThresholdsStyleConfig().mode(line))
    panel.legend(
        common.VizLegendOptions()
        .display_mode(common_model.LegendDisplayMode.TABLE)
        .placement(common_model.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["mean", "max"])
    )
    panel.tooltip(
        common.VizTooltipOptions()
        .mode(common_model.TooltipDisplayMode.MULTI)
        .sort(common_model.SortOrder.DESCENDING)
    )
    return panel


def single_stat(
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    thresholds: Sequence[tuple[float, str]] = (),
) -> stat.Panel:
    panel = _common(
        stat.Panel(), title, description, unit=unit, width=width, height=height, thresholds=thresholds
    )
    panel.targets(list(_queries(targets)))
    panel.color_scheme(dashboard.FieldColor().mode(dashboard_model.FieldColorModeId.THRESHOLDS))
    panel.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
    panel.color_mode(common_model.BigValueColorMode.VALUE).graph_mode(common_model.BigValueGraphMode.AREA)
    panel.justify_mode(common_model.BigValueJustifyMode.AUTO).orientation(common_model.VizOrientation.AUTO)
    panel.text_mode(common_model.BigValueTextMode.AUTO)
    return panel


def instant_table(
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    links: Sequence[dashboard.DashboardLink] = (),
) -> table.Panel:
    """One row per series, now (instant queries); the Time column left out."""
    panel = _common(table.Panel(), title, description, unit=unit, width=width, height=height, links=links)
    panel.targets(list(_queries(targets, instant=True, format_val=prometheus_model.PromQueryFormat.TABLE)))
    panel.align(common_model.FieldTextAlignment.AUTO).cell_options(common_model.TableAutoCellOptions())
    panel.show_header(True).cell_height(common_model.TableCellHeight.SM)
    panel.footer(common.TableFooterOptions().show(False).reducer(["sum"]))
    panel.with_transformation(
        dashboard_model.DataTransformerConfig(
            id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": {}}
        )
    )
    return panel


def bucket_heatmap(
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
) -> heatmap.Panel:
    """A histogram's buckets over time, as Prometheus computed them (``calculate`` off)."""
    panel = _common(heatmap.Panel(), title, description, unit=unit, width=width, height=height)
    heat = [Target(target.expr, "{{le}}") for target in targets]
    panel.targets(list(_queries(heat, format_val=prometheus_model.PromQueryFormat.HEATMAP, exemplar=True)))
    panel.calculate(False).cell_gap(1)
    panel.color(
        heatmap.HeatmapColorOptions()
        .mode(heatmap_model.HeatmapColorMode.SCHEME)
        .scheme("Oranges")
        .steps(64)
        .exponent(0.5)
        .fill("dark-orange")
    )
    panel.exemplars_color("rgba(255,0,255,0.7)")
    panel.filter_values(heatmap.FilterValueRange().le(1e-9))
    panel.rows_frame(heatmap.RowsHeatmapOptions().layout(common_model.HeatmapCellLayout.AUTO))
    panel.mode(common_model.TooltipDisplayMode.SINGLE).show_y_histogram().show_color_scale(False)
    panel.y_axis(
        heatmap.YAxisConfig().axis_placement(common_model.AxisPlacement.LEFT).unit(unit).reverse(False)
    )
    panel.show_legend()
    return panel


def route_link() -> dashboard.DashboardLink:
    """A data link from a row of a per-route table to the drill-down board for that route."""
    return (
        dashboard.DashboardLink("Drill down into ${__data.fields.route}")
        .url(
            "/d/gatewatch-route/gatewatch-route-drill-down?${datasource:queryparam}&${job:queryparam}"
            "&${instance:queryparam}&${interface:queryparam}&var-route=${__data.fields.route}"
            "&${__url_time_range}"
        )
        .type(dashboard_model.DashboardLinkType.LINK)
    )


def _variable(name: str, label: str, query: str, *, multi: bool = True) -> dashboard.QueryVariable:
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
        # On time range change: new instances and routes appear.
        .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
        .include_all(multi)
        .multi(multi)
    )
    if multi:
        variable.all_value(".*").current(
            dashboard_model.VariableOption(selected=True, text=["All"], value=["$__all"])
        )
    return variable


def board(
    uid: str,
    title: str,
    description: str,
    *,
    route_query: str,
    panels: Sequence[Panel],
    one_route: bool = False,
) -> dashboard_model.Dashboard:
    """A board: the shared variables (``route_query`` lists the routes of the board's own
    metric), links and the panels in order.
    ``one_route`` makes the route a single choice (the drill-down is about one route)."""
    builder = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["gatewatch"])
        .editable()
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("")
        .week_start("")
        .fiscal_year_start_month(0)
        .live_now(False)
        .version(1)
        .link(
            dashboard.DashboardLink("gatewatch boards")
            .type(dashboard_model.DashboardLinkType.DASHBOARDS)
            .tags(["gatewatch"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
            .icon("external link")
            .target_blank(False)
            .tooltip("")
            .url("")
        )
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    builder.with_variable(_variable("job", "Job", label_values("info", "job")))
    builder.with_variable(_variable("instance", "Instance", label_values("info", "instance", 'job=~"$job"')))
    builder.with_variable(_variable("interface", "Interface", label_values("info", "interface", INSTANCE)))
    builder.with_variable(_variable("route", "Route", route_query, multi=not one_route))
    for panel_id, panel in enumerate(panels, start=1):
        builder.with_panel(panel.id(panel_id))
    return builder.build()


def render(built: dashboard_model.Dashboard) -> str:
    """The board's JSON, as committed under grafana/dashboards."""
    return json.dumps(built, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"
