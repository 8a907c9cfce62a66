"""The report's charts, drawn with matplotlib's Agg backend (files only, no display).

Each chart answers one question: how late do messages arrive (latency CDF), what each client costs in bytes
and requests, how busy the server gets as clients grow, where each strategy's knee lies (p99 latency, CPU
and connections against clients, simulated and measured, with the SLO), how the model compares with the
measurement, and what polling costs a phone's battery. A chart whose data is absent is
skipped with a note saying what would produce it; nothing is drawn from invented numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.agreement import AGREEMENT_BARS, agreement
from reports.capacity import quota_text
from reports.load import ResultSet
from reports.numbers import fmt

__all__ = ["CHART_NAMES", "Chart", "draw_charts"]

_STYLE = {"sim": "--", "measured": "-"}
_MAX_CDF_POINTS = 2000  # enough for a smooth curve; keeps SVG files small


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """One chart of the report, or the note saying why it was skipped."""

    name: str
    """File stem, e.g. ``latency_cdf``."""
    title: str
    """Heading shown above the chart."""
    png: Path | None = None
    """PNG file, None when skipped."""
    svg: Path | None = None
    """SVG file, None when skipped."""
    note: str = ""
    """What the chart shows, or why it was skipped."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # never a display: reports are built on servers and CI runners
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path, name: str, title: str, note: str) -> Chart:
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    fig.savefig(svg)
    _pyplot().close(fig)
    return Chart(name=name, title=title, png=png, svg=svg, note=note)


def _color(results: ResultSet, strategy: str) -> str:
    """One colour per strategy in every chart, so sim (dashed) and measured (solid) pairs read together."""
    index = results.strategies.index(strategy) if strategy in results.strategies else 0
    return f"C{index % 10}"


def _legend_outside(ax: Any) -> None:
    # outside the axes: the curves of a CDF fill the whole plot area and a legend inside would hide them
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _in_legend_order(results: ResultSet, groups: Any) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """(source, strategy) groups ordered by strategy, then sim before measured: pairs sit together."""
    order = {s: i for i, s in enumerate(results.strategies)}
    items = [((str(k[0]), str(k[1])), g) for k, g in groups]
    return sorted(items, key=lambda kv: (order.get(kv[0][1], 99), kv[0][0] != "sim"))


def _label(source: str, strategy: str, sources: tuple[str, ...]) -> str:
    return strategy if len(sources) < 2 else f"{strategy} ({source})"


def latency_cdf(results: ResultSet, out: Path) -> Chart:
    title = "Delivery latency, cumulative distribution"
    d = results.deliveries
    if d.empty:
        return Chart(name="latency_cdf", title=title, note="Skipped: no deliveries.parquet in the results.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    for (source, strategy), group in _in_legend_order(results, d.groupby(["source", "strategy"], sort=False)):
        x = np.sort(group["latency_s"].to_numpy(dtype=float))
        x = x[np.isfinite(x) & (x > 0)]
        if x.size == 0:
            continue
        idx = np.unique(np.linspace(0, x.size - 1, min(x.size, _MAX_CDF_POINTS)).astype(int))
        y = (idx + 1) / x.size
        ax.plot(
            x[idx],
            y,
            _STYLE.get(str(source), "-"),
            color=_color(results, str(strategy)),
            label=_label(str(source), str(strategy), results.sources),
        )
    ax.set_xscale("log")
    ax.set_xlabel("delivery latency, s (log scale)")
    ax.set_ylabel("share of messages delivered")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax)
    note = "Solid lines measured, dashed simulated." if len(results.sources) > 1 else ""
    return _save(fig, out, "latency_cdf", title, note)


def _bars(results: ResultSet, figure: Callable[[pd.DataFrame], pd.Series], xlabel: str) -> Any:
    """Horizontal bars of one per-strategy figure, one bar per source."""
    plt = _pyplot()
    runs = results.runs.drop_duplicates(["source", "strategy"])
    strategies = list(results.strategies)
    sources = results.sources
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(strategies) * max(len(sources), 1) + 1.2))
    height = 0.8 / max(len(sources), 1)
    for i, source in enumerate(sources):
        rows = runs[runs["source"] == source].set_index("strategy").reindex(strategies)
        values = figure(rows).to_numpy(dtype=float)
        pos = np.arange(len(strategies)) + i * height
        ax.barh(pos, np.nan_to_num(values), height=height, label=source)
        for p, v in zip(pos, values, strict=True):
            if math.isfinite(v):
                ax.text(v, p, f" {fmt(v)}", va="center", fontsize=8)
    ax.set_yticks(np.arange(len(strategies)) + height * (len(sources) - 1) / 2, strategies)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(True, axis="x", alpha=0.3)
    if len(sources) > 1:
        ax.legend(fontsize=8)
    return fig


@dataclass(frozen=True, slots=True, kw_only=True)
class _BarChart:
    """A per-strategy bar chart: which figure, how it is labelled, and what it needs."""

    name: str
    """File stem."""
    title: str
    """Heading shown above the chart."""
    figure: Callable[[pd.DataFrame], pd.Series]
    """The plotted figure, computed from rows of ResultSet.runs."""
    xlabel: str
    """Axis label with its unit."""
    note: str
    """Caption under the chart."""
    missing: str
    """Why the chart is skipped when no run has the figure."""

    def __call__(self, results: ResultSet, out: Path) -> Chart:
        runs = results.runs
        values = self.figure(runs).to_numpy(dtype=float) if not runs.empty else np.array([])
        if not np.isfinite(values).any():
            return Chart(name=self.name, title=self.title, note=f"Skipped: {self.missing}")
        return _save(_bars(results, self.figure, self.xlabel), out, self.name, self.title, self.note)


def _per_thousand_clients(rows: pd.DataFrame) -> pd.Series:
    return rows["requests_per_s"] / rows["clients"].where(rows["clients"] > 0) * 1000


bandwidth = _BarChart(
    name="bandwidth_per_client",
    title="Bandwidth per client",
    figure=lambda r: r["bytes_per_client_per_min"] / 1024,
    xlabel="KiB per client per minute (both ways)",
    note="Wire bytes both ways, headers included.",
    missing="no run recorded bytes per client.",
)
requests_rate = _BarChart(
    name="requests_per_1000_clients",
    title="Requests per second per 1 000 clients",
    figure=_per_thousand_clients,
    xlabel="HTTP requests per second per 1 000 clients",
    note="Connects and reconnects of push strategies included.",
    missing="no run recorded requests/s with a client count.",
)
energy = _BarChart(
    name="energy_per_client_hour",
    title="Radio energy per client-hour",
    figure=lambda r: r["energy_j_per_client_hour"],
    xlabel="joules per client-hour",
    note="Mobile radio (LTE RRC) energy model.",
    missing="no run computed radio energy.",
)


def _utilization_points(results: ResultSet) -> pd.DataFrame:
    runs = results.runs[["source", "strategy", "clients", "server_processes", "server_utilization"]]
    points = runs.rename(columns={"server_utilization": "utilization"})
    # knee probes on a whole core only: under a quota the busy fraction is of a fraction of a core
    steps = results.capacity[results.capacity["quota"] >= 1]
    cap = steps[["source", "strategy", "clients", "server_utilization"]].rename(
        columns={"server_utilization": "utilization"}
    )
    cap = cap.assign(server_processes=1)
    both = pd.concat([points, cap], ignore_index=True) if not cap.empty else points
    both = both.assign(per_process=both["clients"] / both["server_processes"].clip(lower=1))
    return both[np.isfinite(both["utilization"].astype(float))].drop_duplicates()


def utilization(results: ResultSet, out: Path) -> Chart:
    title = "Server utilization versus clients per process"
    pts = _utilization_points(results)
    counts = pts.groupby(["source", "strategy"])["per_process"].nunique()
    if pts.empty or counts.max() < 2:
        return Chart(
            name="utilization_vs_clients",
            title=title,
            note="Skipped: every strategy was run at one client count only; "
            "give runs at several client counts (or knees on a whole core) to draw the curve.",
        )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    for (source, strategy), g in _in_legend_order(results, pts.groupby(["source", "strategy"], sort=False)):
        g = g.sort_values("per_process")
        ax.plot(
            g["per_process"],
            g["utilization"] * 100,
            _STYLE.get(str(source), "-"),
            color=_color(results, str(strategy)),
            marker="o",
            label=_label(str(source), str(strategy), results.sources),
        )
    ax.set_xlabel("concurrent clients per server process")
    ax.set_ylabel("server busy, %")
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    return _save(
        fig, out, "utilization_vs_clients", title, "Runs of every workload, and knee probes on a whole core."
    )


_CURVE_PANELS: tuple[tuple[str, str, float], ...] = (
    ("p99_s", "p99 delivery latency, s", 1.0),
    ("server_utilization", "server CPU, % of its quota", 100.0),
    ("open_connections", "open connections", 1.0),
)
"""(step column, axis label, scale) of the three panels of a capacity curve."""


def _curve_style(source: str, quota: float, quotas: list[float]) -> tuple[str, str, str]:
    """(line style, colour, label) of a knee search: measured solid, simulated dashed, a colour per quota."""
    colour = f"C{quotas.index(quota) % 10}"
    return _STYLE.get(source, "-"), colour, f"{source} at {quota_text(quota)}"


def _slo_lines(axes: Any, knees: pd.DataFrame) -> None:
    for col, value, scale in (
        (0, knees["slo_p99_s"], 1.0),
        (1, knees["slo_utilization"], 100.0),
        (2, knees["connection_limit"], 1.0),
    ):
        for v in value.dropna().unique():
            axes[col].axhline(float(v) * scale, color="crimson", linestyle=":", linewidth=1, label="SLO")


def _knee_curves(axes: Any, strategy: str, steps: pd.DataFrame, knees: pd.DataFrame) -> None:
    quotas = sorted(set(steps["quota"]))
    for (run, source, quota), g in steps.groupby(["run", "source", "quota"], sort=False):
        g = g.sort_values("clients")
        style, colour, label = _curve_style(str(source), float(str(quota)), quotas)
        knee = knees[(knees["run"] == run) & (knees["quota"] == quota)]
        at = int(knee["max_clients"].iloc[0]) if not knee.empty else 0
        for ax, (column, _, scale) in zip(axes, _CURVE_PANELS, strict=True):
            ax.plot(
                g["clients"], g[column] * scale, style, color=colour, marker="o", markersize=3, label=label
            )
            bad = g[~g["ok"].astype(bool)]
            ax.plot(bad["clients"], bad[column] * scale, "x", color="crimson")
            if at > 0:
                ax.axvline(at, color=colour, linestyle="-.", linewidth=1, alpha=0.7)
            sim_col = f"sim_{column}"
            if source == "measured" and g[sim_col].notna().any():
                ax.plot(
                    g["clients"],
                    g[sim_col] * scale,
                    ":",
                    color="grey",
                    marker=".",
                    label="sim of these probes",
                )
    _slo_lines(axes, knees)
    axes[0].set_title(f"{strategy}", fontsize=9, loc="left")
    for ax, (_, ylabel, _) in zip(axes, _CURVE_PANELS, strict=True):
        clients = steps["clients"].astype(float)
        if clients.max() > 20 * max(clients.min(), 1):
            ax.set_xscale("log")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xlabel("clients per process", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[-1].legend(unique.values(), unique.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def capacity_curves(results: ResultSet, out: Path) -> Chart:
    title = "Capacity curves: p99 latency, server CPU and connections against clients"
    steps = results.capacity
    if steps.empty:
        return Chart(
            name="capacity_curves",
            title=title,
            note="Skipped: no knee in the results (capacity.json); run compare with --knees or a capacity "
            "search (see docs/reports.md).",
        )
    plt = _pyplot()
    strategies = [
        s for s in dict.fromkeys([*results.strategies, *steps["strategy"]]) if s in set(steps["strategy"])
    ]
    fig, axes = plt.subplots(len(strategies), 3, figsize=(13, 2.9 * len(strategies)), squeeze=False)
    for row, strategy in zip(axes, strategies, strict=True):
        mine = results.knees[results.knees["strategy"] == strategy]
        _knee_curves(row, strategy, steps[steps["strategy"] == strategy], mine)
    note = (
        "One row per strategy: measured knee searches solid, simulated dashed, one colour per CPU quota; "
        "the dash-dotted vertical line is the knee (the most clients within the SLO), red crosses the "
        "probes that broke it, dotted red lines the SLO. CPU is the busy fraction of the process's quota."
    )
    return _save(fig, out, "capacity_curves", title, note)


_SIM_VS_MEASURED = (*AGREEMENT_BARS, "knee_clients")


def sim_vs_measured(results: ResultSet, out: Path) -> Chart:
    title = "Simulated versus measured"
    table = agreement(results)
    table = table[table["metric"].isin(_SIM_VS_MEASURED)]
    if table.empty:
        return Chart(
            name="sim_vs_measured",
            title=title,
            note="Skipped: no strategy has both a simulated and a measured run.",
        )
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    several = table["workload"].nunique() > 1
    for ax, metric in zip(axes.flat, _SIM_VS_MEASURED, strict=True):
        rows = table[table["metric"] == metric]
        if rows.empty:
            ax.set_axis_off()
            ax.set_title(f"{metric}: no pair", fontsize=9)
            continue
        pos = np.arange(len(rows))
        ax.bar(pos - 0.2, np.nan_to_num(rows["sim"].to_numpy(dtype=float)), 0.4, label="sim")
        ax.bar(pos + 0.2, np.nan_to_num(rows["measured"].to_numpy(dtype=float)), 0.4, label="measured")
        for p, r in zip(pos, rows.to_dict("records"), strict=True):
            if math.isfinite(r["ratio"]):
                top = np.nanmax([r["sim"], r["measured"]])
                colour = "black" if r["agrees"] is not False else "crimson"
                ax.text(p, top, f"{r['ratio']:.2f}×", ha="center", va="bottom", fontsize=8, color=colour)
        names = [
            r["strategy"]
            + (f" ({r['workload'] or '-'})" if several else "")
            + (f" @{r['quota']:g}" if metric == "knee_clients" else "")
            for r in rows.to_dict("records")
        ]
        ax.set_xticks(pos, names, rotation=30, ha="right", fontsize=8)
        ax.margins(y=0.15)  # room for the ratio labels above the tallest pair
        bar = rows["rule"].iloc[0]
        ax.set_title(f"{'knee clients' if metric == 'knee_clients' else metric} (bar {bar})", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    return _save(
        fig, out, "sim_vs_measured", title, "Ratio sim / measured above each pair; red = outside its bar."
    )


_DRAWERS: tuple[Callable[[ResultSet, Path], Chart], ...] = (
    latency_cdf,
    bandwidth,
    requests_rate,
    utilization,
    capacity_curves,
    sim_vs_measured,
    energy,
)
CHART_NAMES: tuple[str, ...] = (
    "latency_cdf",
    "bandwidth_per_client",
    "requests_per_1000_clients",
    "utilization_vs_clients",
    "capacity_curves",
    "sim_vs_measured",
    "energy_per_client_hour",
)


def draw_charts(results: ResultSet, out: str | Path) -> list[Chart]:
    """Every chart of the report into `out` (PNG + SVG), in report order; skipped ones carry a note."""
    target = Path(out)
    return [draw(results, target) for draw in _DRAWERS]
