"""The Grafana dashboard: every query is PromQL (parsed by promql-parser) that names only the
metrics the gateway must export (deploy/grafana/metrics.txt), with their labels, and the panels
the issue asks for are there; the list itself is checked against a live gateway's `/metrics`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import promql_parser as promql
import pytest
import requests

from tests.deploy.helpers import DEPLOY
from tests.helpers.metrics_text import families
from tests.helpers.stack import clean_env, start_gateway

pytestmark = pytest.mark.slow

METRICS_FILE = DEPLOY / "grafana" / "metrics.txt"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "mlflow-artifact-gateway.json"
TYPES = {"counter", "gauge", "histogram"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
# Grafana's built-in interval variables, replaced by a duration before parsing; any other
# `$variable` must sit inside a label value string.
GRAFANA_INTERVALS = re.compile(r"\$(?:__rate_interval|__interval|__range)\b|\$\{__\w+\}")
COUNTING_FUNCTIONS = {"rate", "irate", "increase"}


@dataclass(frozen=True)
class Series:
    """One series name as Prometheus stores it, and the labels it carries."""

    metric: str
    kind: str  # counter | gauge | histogram
    labels: frozenset[str]
    cumulative: bool  # a counter, or a histogram's _bucket/_sum/_count


def read_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (type, labels): the metric names the gateway must export."""
    metrics = {}
    for line in METRICS_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, kind, labels = line.split()
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
        assert kind in TYPES, line
        assert name not in metrics, f"{name} twice"
        metrics[name] = (kind, frozenset() if labels == "-" else frozenset(labels.split(",")))
    return metrics


def series_names(metrics: dict[str, tuple[str, frozenset[str]]]) -> dict[str, Series]:
    """What a query may select: histograms only through their _bucket, _sum and _count."""
    names = {}
    for name, (kind, labels) in metrics.items():
        if kind == "histogram":
            names[f"{name}_bucket"] = Series(name, kind, labels | {"le"}, True)
            names[f"{name}_sum"] = Series(name, kind, labels, True)
            names[f"{name}_count"] = Series(name, kind, labels, True)
        else:
            names[name] = Series(name, kind, labels, kind == "counter")
    return names


SERIES = series_names(read_metrics())


@dataclass
class Query:
    """What one PromQL expression uses."""

    series: list[str] = field(default_factory=list)
    quantiles: list[tuple[float, str]] = field(default_factory=list)  # (q, bucket series)
    matchers: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (series, labels)


def selector_name(node: promql.VectorSelector) -> str:
    if node.name:
        return node.name
    names = [m for m in node.matchers.matchers if m.name == "__name__"]
    assert names and names[0].op == promql.MatchOp.Equal, f"{node}: name every metric exactly"
    return names[0].value


def series_under(node: Any) -> list[str]:
    found: list[str] = []

    def visit(inner: Any) -> None:
        if isinstance(inner, promql.VectorSelector):
            found.append(selector_name(inner))

    promql.walk(node, visit)
    return found


def check_query(expr: str, *, raw_counters: bool = False) -> Query:
    """Parses `expr` (Grafana's interval variables replaced) and checks every name in it.

    Raises AssertionError for an unknown series, a label the series does not have, a counter
    used without rate/increase (unless `raw_counters`: a label lookup), or a quantile over
    buckets whose `le` was aggregated away; ValueError when it is not PromQL."""
    tree = promql.parse(GRAFANA_INTERVALS.sub("5m", expr))
    query = Query()
    parents: list[Any] = []

    def enter(node: Any) -> None:
        if isinstance(node, promql.VectorSelector):
            name = selector_name(node)
            assert name in SERIES, f"{name} is not a metric the gateway exports ({expr})"
            series = SERIES[name]
            query.series.append(name)
            labels = {m.name: m.value for m in node.matchers.matchers if m.name != "__name__"}
            unknown = labels.keys() - series.labels - TARGET_LABELS
            assert not unknown, f"{name} has no label {unknown} ({expr})"
            query.matchers.append((name, labels))
            if series.cumulative and not raw_counters:
                counted = (
                    len(parents) >= 2
                    and isinstance(parents[-1], promql.MatrixSelector)
                    and isinstance(parents[-2], promql.Call)
                    and parents[-2].func.name in COUNTING_FUNCTIONS
                )
                assert counted, f"{name} is cumulative: use rate() or increase() ({expr})"
        if isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            available = set(TARGET_LABELS)
            for name in series_under(node.expr):
                available |= SERIES[name].labels
            unknown = set(node.modifier.labels) - available
            assert not unknown, f"aggregation over labels {unknown} nobody has ({expr})"
        if isinstance(node, promql.Call) and node.func.name == "histogram_quantile":
            quantile, inner = node.args
            names = series_under(inner)
            assert names and all(n.endswith("_bucket") for n in names), expr
            if isinstance(inner, promql.AggregateExpr) and inner.modifier is not None:
                assert inner.modifier.type == promql.AggModifierType.By, expr
                assert "le" in inner.modifier.labels, f"le aggregated away ({expr})"
            query.quantiles.extend((float(str(quantile)), n) for n in names)
        parents.append(node)

    def leave(node: Any) -> None:
        parents.pop()

    promql.walk(tree, enter, leave)
    return query


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [(p["title"], t) for p in panels() for t in p.get("targets", [])]


LABEL_VALUES = re.compile(r"label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)")


def variable_queries() -> list[tuple[str, str]]:
    """(selector, label) of every `label_values(selector, label)` template variable."""
    found = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = LABEL_VALUES.fullmatch(text.strip())
        assert match, f"variable {variable['name']}: only label_values(selector, label)"
        found.append((match.group(1), match.group(2)))
    return found


# --- the contract file --------------------------------------------------------------------


def test_the_metric_list_holds_the_agreed_names():
    metrics = read_metrics()
    assert metrics["gateway_http_requests_total"] == (
        "counter",
        frozenset({"route", "method", "status"}),
    )
    assert metrics["gateway_http_request_duration_seconds"][0] == "histogram"
    assert metrics["gateway_transfers_in_flight"] == ("gauge", frozenset({"direction"}))
    for name, (kind, _) in metrics.items():
        assert name.startswith(("gateway_", "process_")), name
        assert (kind == "counter") == name.endswith("_total"), name


# --- the checker can fail -----------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "sum(rate(gateway_requests_total[5m]))",  # not a gateway metric
        "rate(gateway_http_request_duration_seconds[5m])",  # a histogram has no bare series
        "rate(gateway_uploaded_bytes_total_bucket[5m])",  # a counter has no buckets
        'rate(gateway_http_requests_total{code="500"}[5m])',  # the label is `status`
        "sum by (destination) (gateway_transfers_in_flight)",  # it has `direction` only
        "gateway_http_requests_total",  # a counter needs rate()
        "histogram_quantile(0.9, sum by (route) "
        "(rate(gateway_http_request_duration_seconds_bucket[5m])))",  # le summed away
        'rate({__name__=~"gateway_.+"}[5m])',  # names must be exact
    ],
)
def test_the_checker_rejects(expr):
    with pytest.raises(AssertionError):
        check_query(expr)


def test_the_checker_rejects_what_is_not_promql():
    with pytest.raises(ValueError):
        check_query("sum(rate(gateway_http_requests_total[5m])")
    with pytest.raises(ValueError):
        check_query("rate(gateway_http_requests_total[$window])")


# --- the dashboard ------------------------------------------------------------------------


@pytest.mark.parametrize("title_target", targets(), ids=lambda tt: f"{tt[0]}-{tt[1]['refId']}")
def test_every_query_names_only_exported_metrics(title_target):
    _, target = title_target
    assert check_query(target["expr"]).series


def test_template_variables_name_only_exported_metrics():
    queries = variable_queries()
    assert queries
    for selector, label in queries:
        query = check_query(selector, raw_counters=True)
        for name in query.series:
            assert label in SERIES[name].labels | TARGET_LABELS, (selector, label)


def test_every_panel_uses_the_dashboards_data_source():
    variables = {v["name"] for v in dashboard()["templating"]["list"]}
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert "datasource" in variables
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            for variable in re.findall(r"\$(\w+)", target["expr"]):
                assert variable.startswith("__") or variable in variables, variable


def test_panels_do_not_overlap():
    cells: dict[tuple[int, int], str] = {}
    for panel in panels():
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_the_dashboard_shows_what_the_issue_asks_for():
    queries = [check_query(t["expr"]) for _, t in targets()]
    used = [name for q in queries for name in q.series]
    # Request rate.
    assert "gateway_http_requests_total" in used
    # Error rate: 5xx responses over all responses.
    assert any(
        name == "gateway_http_requests_total" and labels.get("status") == "5.."
        for q in queries
        for name, labels in q.matchers
    )
    # p50 and p99 latency of the gateway's requests.
    quantiles = {(q, n) for query in queries for q, n in query.quantiles}
    assert (0.5, "gateway_http_request_duration_seconds_bucket") in quantiles
    assert (0.99, "gateway_http_request_duration_seconds_bucket") in quantiles
    # Bytes per destination, both ways, and transfers in flight.
    texts = [t["expr"] for _, t in targets()]
    for metric in ("gateway_uploaded_bytes_total", "gateway_downloaded_bytes_total"):
        assert any(metric in e and "by (destination)" in e for e in texts), metric
    assert any("gateway_transfers_in_flight" in e and "by (direction)" in e for e in texts)


# --- the names against a live scrape ------------------------------------------------------


def test_a_live_gateway_exports_exactly_the_listed_metrics_with_their_labels(tmp_path):
    """A real gateway after a few requests: every listed name with its type, the listed
    labels on every sample, and no `gateway_*` metric that the list lacks."""
    args = ["--artifacts-destination", str(tmp_path / "mlartifacts")]
    process, url = start_gateway(tmp_path, args, clean_env(), name="scraped")
    try:
        api = f"{url}/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts"
        requests.put(f"{api}/f.txt", data=b"abc", timeout=30).raise_for_status()
        requests.get(f"{api}/f.txt", timeout=30).raise_for_status()
        assert requests.get(f"{api}/missing", timeout=30).status_code == 404
        scraped = families(requests.get(f"{url}/metrics", timeout=30).text)
    finally:
        process.stop()
    listed = read_metrics()
    for name, (kind, labels) in listed.items():
        family = scraped.get(name.removesuffix("_total") if kind == "counter" else name)
        assert family is not None, f"{name} is not exported"
        assert family.type == kind, (name, family.type)
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in scraped.values()}
    assert {n for n in exported if n.startswith("gateway_")} == {
        n for n in listed if n.startswith("gateway_")
    }
    moved = [n for n in ("gateway_http_requests", "gateway_uploaded_bytes") if scraped[n].samples]
    assert len(moved) == 2
