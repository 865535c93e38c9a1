"""Pure plotly figure builders: plain data in, ``go.Figure`` out (no streamlit, no store).

Every chart has axis titles (with units where there are units), hover text and a title; ``caption_*``
helpers return the one-line plain-language sentence shown under each chart.  Label strings are passed
in by the caller (already translated), so this module stays language-neutral.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "PALETTE",
    "cluster_color",
    "cluster_size_bar",
    "cluster_heatmap",
    "student_map",
    "sankey_two_runs",
    "sankey_runs",
    "elbow_chart",
    "quality_chart",
    "silhouette_plot",
    "drift_bar",
    "activity_trends",
    "student_path",
    "caption_sizes",
    "caption_heatmap",
    "caption_map",
    "caption_sankey",
    "caption_elbow",
    "caption_quality",
    "caption_silhouette",
    "caption_drift",
    "caption_activity",
    "caption_path",
    "zscore_means",
]

PALETTE = [
    "#2F6FDE", "#E8743B", "#19A979", "#ED4A7B", "#945ECF", "#13A4B4",
    "#D4A017", "#6C8893", "#EE6868", "#2F4B7C", "#A05195", "#665191",
]
VIEW_TYPES = ("file_views", "video_views", "forum_views", "quiz_views", "assignment_views", "url_views")
_TRACE_TYPES = ("bar", "scatter", "scattergl", "heatmap", "sankey")   # every trace type drawn here
_TEMPLATE: go.layout.Template | None = None


def _template() -> go.layout.Template:
    """plotly_white with only the trace types this module draws: the same look (plotly.js applies a
    template's ``data`` per trace type), validated once per figure in a third of the time and half
    the JSON of the whole template."""
    global _TEMPLATE
    if _TEMPLATE is None:
        import plotly.io as pio

        white = pio.templates["plotly_white"]
        _TEMPLATE = go.layout.Template(layout=white.layout,
                                       data={k: white.data[k] for k in _TRACE_TYPES if white.data[k]})
    return _TEMPLATE


_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "hovermode": "closest"}


def cluster_color(cluster_id: int) -> str:
    """Stable colour for a stable cluster id (same cluster, same colour on every page and run)."""
    return PALETTE[int(cluster_id) % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _fig(title: str, x_title: str = "", y_title: str = "") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title}, template=_template(), **_LAYOUT)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def _txt(value: Any) -> str:
    """A name as plain text inside plotly's small HTML subset (no links, no markup)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _label(names: Mapping[int, str], cid: Any) -> str:
    if cid is None or (isinstance(cid, float) and np.isnan(cid)):
        return "—"
    return _txt(names.get(int(cid), f"#{int(cid)}"))


# ---------------------------------------------------------------- clusters
def cluster_size_bar(clusters: Sequence[Mapping[str, Any]], *, title: str = "Cluster sizes",
                     x_title: str = "Cluster", y_title: str = "Students") -> go.Figure:
    """Bar of students per cluster; hover shows count and share of the course."""
    fig = _fig(title, x_title, y_title)
    for c in clusters:
        cid = int(c["cluster_id"])
        share = float(c.get("share") or 0.0)
        fig.add_bar(
            x=[_txt(c.get("name") or f"#{cid}")], y=[int(c.get("size") or 0)], name=_txt(c.get("name") or f"#{cid}"),
            marker_color=cluster_color(cid), text=[f"{share:.0%}"], textposition="outside",
            hovertemplate="%{x}<br>%{y} students<br>" + f"{share:.1%} of course<extra></extra>",
        )
    fig.update_layout(showlegend=False)
    return fig


def cluster_heatmap(means: pd.DataFrame, *, title: str = "Cluster profiles (z-score vs course)",
                    x_title: str = "Feature", y_title: str = "Cluster") -> go.Figure:
    """Heatmap of cluster means as z-scores.

    ``means``: index = cluster label, columns = feature, values already z-scored against the course
    (0 = course average, +1 = one standard deviation above).
    """
    fig = _fig(title, x_title, y_title)
    if means.empty:
        return fig
    z = means.to_numpy(dtype=float)
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig.add_heatmap(
        z=z, x=[str(c) for c in means.columns], y=[str(i) for i in means.index],
        colorscale="RdBu", reversescale=True, zmid=0, zmin=-lim, zmax=lim,
        colorbar={"title": {"text": "z (SD)"}},
        text=np.round(z, 1), texttemplate="%{text}" if z.shape[1] <= 10 else None,
        hovertemplate="%{y}<br>%{x}: %{z:.2f} SD from course mean<extra></extra>",
    )
    fig.update_xaxes(tickangle=-35)
    return fig


def zscore_means(stats_means: Mapping[str, Mapping[str, float]], course_mean: Mapping[str, float],
                 course_std: Mapping[str, float]) -> pd.DataFrame:
    """Turn ``{cluster_label: {feature: mean}}`` into z-scores against the course mean / std."""
    frame = pd.DataFrame(stats_means).T
    mu = pd.Series(course_mean, dtype=float).reindex(frame.columns)
    sd = pd.Series(course_std, dtype=float).reindex(frame.columns).replace(0.0, np.nan)
    return ((frame.astype(float) - mu) / sd).fillna(0.0)


def student_map(points: pd.DataFrame, names: Mapping[int, str], *, title: str = "Students in 2-D",
                x_title: str = "Component 1", y_title: str = "Component 2") -> go.Figure:
    """Scatter of the 2-D projection coloured by cluster.

    ``points`` columns: user_id, x, y, cluster_id, optional fullname / engagement_score.
    """
    fig = _fig(title, x_title, y_title)
    if points.empty:
        return fig
    big = len(points) > 3000
    for cid, grp in points.groupby("cluster_id", sort=True):
        label = _label(names, cid)
        who = grp["fullname"].astype(str).map(_txt) if "fullname" in grp else grp["user_id"].astype(str)
        eng = grp["engagement_score"] if "engagement_score" in grp else pd.Series(np.nan, index=grp.index)
        custom = np.stack([grp["user_id"].to_numpy(), who.to_numpy(), eng.to_numpy()], axis=1)
        trace = go.Scattergl if big else go.Scatter
        fig.add_trace(trace(
            x=grp["x"], y=grp["y"], mode="markers", name=label, customdata=custom,
            marker={"color": cluster_color(int(cid)), "size": 5 if big else 8, "opacity": 0.75},
            hovertemplate="%{customdata[1]} (id %{customdata[0]})<br>" + label
            + "<br>engagement %{customdata[2]:.0f}/100<extra></extra>",
        ))
    fig.update_layout(legend={"title": {"text": y_title and "Cluster"}})
    return fig


# ---------------------------------------------------------------- transitions
def _sankey(labels: list[str], colors: list[str], src: list[int], dst: list[int], val: list[int],
            title: str, *, unit: str = "students", xs: list[float] | None = None,
            columns: Sequence[tuple[float, str]] = ()) -> go.Figure:
    """A readable Sankey: 14 px labels, nodes spaced by the tallest column, whole-number hovers
    ("2 students"), run names as column headings instead of inside every node label."""
    short = [lb if len(lb) <= 30 else lb[:29].rstrip() + "…" for lb in labels]  # the full name is in the hover
    node: dict[str, Any] = {"label": short, "customdata": labels, "color": colors, "pad": 28, "thickness": 18,
                            "line": {"width": 0.5, "color": "#555"},
                            "hovertemplate": "%{customdata}<br>%{value:,.0f} " + unit + "<extra></extra>"}
    if xs is not None:  # one column per run; within a column nodes stacked by size, spaced apart
        node["x"] = xs
        node["y"] = _stack_y(xs, src, dst, val)
    fig = go.Figure(go.Sankey(
        arrangement="snap", valueformat=",.0f", valuesuffix=f" {unit}", node=node,
        textfont={"size": 14, "color": "#1f2933"},
        link={"source": src, "target": dst, "value": val,
              "color": [_rgba(colors[s], 0.35) for s in src],
              "hovertemplate": "%{source.label} → %{target.label}<br>%{value:,.0f} " + unit + "<extra></extra>"},
    ))
    per_column: dict[float, int] = {}
    for x in xs or [0.0] * len(labels):
        per_column[x] = per_column.get(x, 0) + 1
    tallest = max(per_column.values(), default=1)
    fig.update_layout(title={"text": title}, height=max(420, 90 * tallest + 140),
                      margin={"l": 20, "r": 20, "t": 90 if columns else 50, "b": 20}, font={"size": 14})
    for x, text in columns:
        fig.add_annotation(x=x, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                           text=f"<b>{text}</b>", font={"size": 13},
                           xanchor="left" if x <= 0.01 else "right" if x >= 0.99 else "center")
    return fig


def _stack_y(xs: list[float], src: list[int], dst: list[int], val: list[int], gap: float = 0.06) -> list[float]:
    """Vertical centres of the nodes (0 = top): each column's nodes in order, heights by their flow."""
    flow = [0.0] * len(xs)
    for s_, v_ in zip(src, val):
        flow[s_] += v_
    inflow = [0.0] * len(xs)
    for d_, v_ in zip(dst, val):
        inflow[d_] += v_
    size = [max(a, b, 1e-9) for a, b in zip(flow, inflow)]
    ys = [0.5] * len(xs)
    for x in sorted(set(xs)):
        idx = [i for i, xi in enumerate(xs) if xi == x]
        total = sum(size[i] for i in idx) or 1.0
        room = max(0.2, 1.0 - gap * (len(idx) - 1))
        top = 0.0
        for i in idx:
            h = size[i] / total * room
            ys[i] = min(0.999, max(0.001, top + h / 2))
            top += h + gap
    return ys


def _column_x(i: int, n: int) -> float:
    return 0.001 if n <= 1 else min(0.999, max(0.001, i / (n - 1)))


def sankey_two_runs(before: Mapping[int, int], after: Mapping[int, int], names_before: Mapping[int, str],
                    names_after: Mapping[int, str], *, labels: tuple[str, str] = ("before", "after"),
                    title: str = "Who moved where", unit: str = "students") -> go.Figure:
    """Sankey between two runs. ``before``/``after``: user_id -> cluster_id (students in both runs)."""
    common = sorted(set(before) & set(after))
    pairs = pd.DataFrame({"a": [before[u] for u in common], "b": [after[u] for u in common]})
    left = sorted(set(pairs["a"])) if len(pairs) else []
    right = sorted(set(pairs["b"])) if len(pairs) else []
    node_labels = [_label(names_before, c) for c in left] + [_label(names_after, c) for c in right]
    colors = [cluster_color(c) for c in left] + [cluster_color(c) for c in right]
    xs = [0.001] * len(left) + [0.999] * len(right)
    src, dst, val = [], [], []
    if len(pairs):
        for (a, b), n in pairs.value_counts().sort_index().items():
            src.append(left.index(a))
            dst.append(len(left) + right.index(b))
            val.append(int(n))
    return _sankey(node_labels, colors, src, dst, val, title, unit=unit, xs=xs,
                   columns=[(0.0, labels[0]), (1.0, labels[1])])


def sankey_runs(assignments: Sequence[Mapping[int, int]], names: Sequence[Mapping[int, str]],
                run_labels: Sequence[str], *, title: str = "Movement across runs", unit: str = "students") -> go.Figure:
    """Sankey across N runs (oldest first). ``assignments[i]``: user_id -> cluster_id in run i."""
    node_labels: list[str] = []
    colors: list[str] = []
    xs: list[float] = []
    index: dict[tuple[int, int], int] = {}
    n_runs = len(assignments)
    for i, (assign, nm) in enumerate(zip(assignments, names)):
        for cid in sorted(set(assign.values())):
            index[(i, cid)] = len(node_labels)
            node_labels.append(_label(nm, cid))  # the run's date heads each column
            colors.append(cluster_color(cid))
            xs.append(_column_x(i, n_runs))
    src, dst, val = [], [], []
    for i in range(len(assignments) - 1):
        a, b = assignments[i], assignments[i + 1]
        common = set(a) & set(b)
        counts: dict[tuple[int, int], int] = {}
        for u in common:
            key = (a[u], b[u])
            counts[key] = counts.get(key, 0) + 1
        for (ca, cb), n in sorted(counts.items()):
            src.append(index[(i, ca)])
            dst.append(index[(i + 1, cb)])
            val.append(n)
    columns = [(_column_x(i, n_runs), str(run_labels[i])) for i in range(min(n_runs, len(run_labels)))]
    return _sankey(node_labels, colors, src, dst, val, title, unit=unit, xs=xs, columns=columns)


def student_path(path: Sequence[Mapping[str, Any]], names: Mapping[int, str], *,
                 title: str = "Cluster path", x_title: str = "Run date", y_title: str = "Cluster") -> go.Figure:
    """Step line of one student's cluster over runs. ``path``: [{timestamp, cluster_id, transition_type}]."""
    fig = _fig(title, x_title, y_title)
    if not path:
        return fig
    xs = [p["timestamp"] for p in path]
    ys = [_label(names, p["cluster_id"]) for p in path]
    kinds = [p.get("transition_type", "") for p in path]
    fig.add_scatter(x=xs, y=ys, mode="lines+markers", line={"shape": "hv", "color": "#6C8893"},
                    marker={"size": 11, "color": [cluster_color(int(p["cluster_id"])) for p in path]},
                    customdata=kinds, hovertemplate="%{x|%Y-%m-%d}<br>%{y}<br>%{customdata}<extra></extra>")
    fig.update_yaxes(type="category")
    return fig


def student_vs_course(trend: pd.DataFrame, *, title: str, x_title: str = "Run date",
                      student_label: str = "This student", course_label: str = "Course median") -> go.Figure:
    """One feature of one student over the runs against the course median. ``trend``: run_at, student,
    course_median."""
    fig = _fig(title, x_title, "")
    if trend.empty:
        return fig
    fig.add_scatter(x=trend["run_at"], y=trend["course_median"], mode="lines+markers", name=course_label,
                    line={"color": "#9AA5B1", "dash": "dash"},
                    hovertemplate="%{x|%Y-%m-%d}<br>" + course_label + ": %{y:,.1f}<extra></extra>")
    fig.add_scatter(x=trend["run_at"], y=trend["student"], mode="lines+markers", name=student_label,
                    line={"color": PALETTE[0], "width": 3}, marker={"size": 9},
                    hovertemplate="%{x|%Y-%m-%d}<br>" + student_label + ": %{y:,.1f}<extra></extra>")
    fig.update_layout(height=320, legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
                      margin={"t": 70})
    return fig


# ---------------------------------------------------------------- diagnostics
def elbow_chart(scores: pd.DataFrame, *, knee: int | None, chosen: int | None, title: str = "Elbow (inertia per k)",
                x_title: str = "Number of clusters k", y_title: str = "Inertia (within-cluster sum of squares)",
                knee_label: str = "knee", chosen_label: str = "chosen k") -> go.Figure:
    """Inertia per k with the knee and the chosen k marked. ``scores``: columns k, inertia."""
    fig = _fig(title, x_title, y_title)
    if scores.empty or "inertia" not in scores:
        return fig
    s = scores.dropna(subset=["inertia"]).sort_values("k")
    fig.add_scatter(x=s["k"], y=s["inertia"], mode="lines+markers", name="inertia",
                    line={"color": PALETTE[0]}, hovertemplate="k=%{x}<br>inertia %{y:,.1f}<extra></extra>")
    _mark(fig, s, "inertia", knee, knee_label, "#E8743B", "diamond")
    _mark(fig, s, "inertia", chosen, chosen_label, "#19A979", "star")
    fig.update_xaxes(dtick=1)
    return fig


def _mark(fig: go.Figure, s: pd.DataFrame, col: str, k: int | None, label: str, color: str, symbol: str) -> None:
    if k is None:
        return
    row = s[s["k"] == k]
    if row.empty or pd.isna(row[col].iloc[0]):
        return
    fig.add_scatter(x=[k], y=[row[col].iloc[0]], mode="markers", name=f"{label} (k={k})",
                    marker={"size": 16, "color": color, "symbol": symbol, "line": {"width": 1, "color": "#333"}},
                    hovertemplate=f"{label}<br>k=%{{x}}<br>{col} %{{y:.3f}}<extra></extra>")


def quality_chart(scores: pd.DataFrame, *, chosen: int | None, title: str = "Silhouette and Davies-Bouldin per k",
                  x_title: str = "Number of clusters k", y_left: str = "Silhouette (higher is better)",
                  y_right: str = "Davies-Bouldin (lower is better)", chosen_label: str = "chosen k") -> go.Figure:
    """Silhouette (left axis) and Davies-Bouldin (right axis) per k; chosen k as a vertical line."""
    fig = _fig(title, x_title, y_left)
    if scores.empty:
        return fig
    s = scores.sort_values("k")
    if "silhouette" in s:
        fig.add_scatter(x=s["k"], y=s["silhouette"], mode="lines+markers", name="silhouette",
                        line={"color": PALETTE[0]}, hovertemplate="k=%{x}<br>silhouette %{y:.3f}<extra></extra>")
    if "davies_bouldin" in s:
        fig.add_scatter(x=s["k"], y=s["davies_bouldin"], mode="lines+markers", name="Davies-Bouldin",
                        yaxis="y2", line={"color": PALETTE[1], "dash": "dot"},
                        hovertemplate="k=%{x}<br>Davies-Bouldin %{y:.3f}<extra></extra>")
    fig.update_layout(yaxis2={"title": {"text": y_right}, "overlaying": "y", "side": "right", "showgrid": False},
                      legend={"orientation": "h", "y": -0.25})
    if chosen is not None:
        fig.add_vline(x=chosen, line_dash="dash", line_color="#19A979",
                      annotation_text=f"{chosen_label} = {chosen}", annotation_position="top")
    fig.update_xaxes(dtick=1)
    return fig


#: above this many students the silhouette plot draws each cluster as one filled area (the outline of
#: its bars) instead of one SVG bar per student (5,000 bars took seconds to lay out in the browser)
SILHOUETTE_BARS_MAX = 1000


def silhouette_plot(samples: pd.DataFrame, names: Mapping[int, str], *, average: float | None = None,
                    title: str = "Per-student silhouette", x_title: str = "Silhouette coefficient (-1 … 1)",
                    y_title: str = "Students, sorted within cluster") -> go.Figure:
    """Classic silhouette plot: horizontal bars per student grouped by cluster (for more than
    ``SILHOUETTE_BARS_MAX`` students, each cluster's bars as one filled step area: the same values,
    the same hover per student).

    ``samples`` columns: user_id, cluster_id, silhouette.
    """
    fig = _fig(title, x_title, y_title)
    s = samples.dropna(subset=["silhouette"]) if not samples.empty else samples
    if s.empty:
        return fig
    pos = 0
    area = len(s) > SILHOUETTE_BARS_MAX
    for cid, grp in s.groupby("cluster_id", sort=True):
        g = grp.sort_values("silhouette")
        ys = np.arange(pos, pos + len(g))
        hover = "student %{customdata}<br>silhouette %{x:.3f}<extra>" + _label(names, cid) + "</extra>"
        if area:  # the bars' outline as one filled path: the browser draws 1 shape, not 1 per student
            color = cluster_color(int(cid))
            fig.add_scatter(x=g["silhouette"], y=ys, mode="lines", line={"shape": "vh", "width": 0.5, "color": color},
                            fill="tozerox", fillcolor=color, name=_label(names, cid), customdata=g["user_id"],
                            hovertemplate=hover)
        else:
            fig.add_bar(x=g["silhouette"], y=ys, orientation="h", name=_label(names, cid),
                        marker_color=cluster_color(int(cid)), customdata=g["user_id"], hovertemplate=hover)
        pos += len(g) + max(2, len(s) // 100)
    if average is not None:
        fig.add_vline(x=average, line_dash="dash", line_color="#333",
                      annotation_text=f"mean {average:.2f}", annotation_position="top")
    fig.update_layout(bargap=0)
    fig.update_yaxes(showticklabels=False)
    return fig


def drift_bar(drift: Sequence[Mapping[str, Any]], *, title: str = "Feature drift since the previous run",
              x_title: str = "Population stability index (PSI)", y_title: str = "Feature",
              threshold: float = 0.2) -> go.Figure:
    """Horizontal bar of PSI per feature; shifted features highlighted, threshold line drawn."""
    fig = _fig(title, x_title, y_title)
    if not drift:
        return fig
    d = pd.DataFrame(list(drift)).sort_values("psi")
    colors = ["#ED4A7B" if bool(x) else "#6C8893" for x in d.get("shifted", [False] * len(d))]
    ks = d["ks"] if "ks" in d else pd.Series(np.nan, index=d.index)
    pv = d["p_value"] if "p_value" in d else pd.Series(np.nan, index=d.index)
    fig.add_bar(x=d["psi"], y=d["feature"], orientation="h", marker_color=colors,
                customdata=np.stack([ks.to_numpy(dtype=float), pv.to_numpy(dtype=float)], axis=1),
                hovertemplate="%{y}<br>PSI %{x:.3f}<br>KS %{customdata[0]:.3f} (p=%{customdata[1]:.3g})<extra></extra>")
    fig.add_vline(x=threshold, line_dash="dash", line_color="#ED4A7B", annotation_text=f"PSI {threshold}")
    return fig


# ---------------------------------------------------------------- activity
def activity_trends(rows: Sequence[Mapping[str, Any]], *, title: str = "Course activity over time",
                    x_title: str = "Date", y_title: str = "Views",
                    y2_title: str = "Average views per student per day",
                    labels: Mapping[str, str] | None = None) -> go.Figure:
    """Total views per extraction date (bars) and average activity per student per day (line)."""
    fig = _fig(title, x_title, y_title)
    if not rows:
        return fig
    d = pd.DataFrame(list(rows))
    date_col = "date" if "date" in d else ("extraction_date" if "extraction_date" in d else d.columns[0])
    d = d.sort_values(date_col)
    types = [c for c in VIEW_TYPES if c in d]
    if types:
        for i, col in enumerate(types):
            label = (labels or {}).get(col) or col.replace("_", " ").capitalize()
            fig.add_bar(x=d[date_col], y=d[col], name=label, marker_color=PALETTE[i % len(PALETTE)],
                        hovertemplate="%{x|%Y-%m-%d}<br>" + label + ": %{y:,}<extra></extra>")
        fig.update_layout(barmode="stack")
    elif "total_views" in d:
        fig.add_bar(x=d[date_col], y=d["total_views"], name=y_title, marker_color=PALETTE[0],
                    hovertemplate="%{x}<br>%{y:,} views<extra></extra>")
    avg_col = next((c for c in ("avg_activity_per_student_per_day", "average_activity_per_student_per_day",
                                "avg_views_per_student_per_day") if c in d), None)
    if avg_col:
        fig.add_scatter(x=d[date_col], y=d[avg_col], name=y2_title, yaxis="y2", mode="lines+markers",
                        line={"color": "#222222", "width": 3},
                        hovertemplate="%{x|%Y-%m-%d}<br>" + y2_title + ": %{y:.2f}<extra></extra>")
        # counts and rates cannot go below zero: both axes start at 0
        fig.update_layout(yaxis2={"title": {"text": y2_title}, "overlaying": "y", "side": "right", "showgrid": False,
                                  "rangemode": "tozero", "tickformat": ".1f"})
    fig.update_layout(yaxis={"rangemode": "tozero"})
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


# ---------------------------------------------------------------- captions
Translator = Callable[..., str] | None


def _cap(t: Translator, key: str, default: str, **kw: Any) -> str:
    """``t(key, **kw)`` when a translator is given (ui.i18n.t), else the English default."""
    return t(key, **kw) if t is not None else default.format(**kw)


def caption_sizes(clusters: Sequence[Mapping[str, Any]], t: Translator = None) -> str:
    if not clusters:
        return ""
    big = max(clusters, key=lambda c: c.get("size", 0))
    return _cap(t, "cap.sizes", "{n} groups; the largest, {name}, holds {share} of students.",
                n=len(clusters), name=big.get("name"), share=f"{float(big.get('share') or 0):.0%}")


def caption_heatmap(t: Translator = None) -> str:
    return _cap(t, "cap.heatmap", "Red cells are above the course average, blue below; numbers are standard deviations.")


def caption_map(t: Translator = None) -> str:
    return _cap(t, "cap.map", "Each dot is a student; students close together behave alike.")


def caption_sankey(moved: int, total: int, t: Translator = None) -> str:
    return _cap(t, "cap.sankey", "{moved} of {total} students changed group between these runs.", moved=moved, total=total)


def caption_elbow(knee: int | None, chosen: int | None, t: Translator = None) -> str:
    return _cap(t, "cap.elbow", "The curve bends at k={knee}; the vote chose k={chosen}.", knee=knee, chosen=chosen)


def caption_quality(chosen: int | None, t: Translator = None) -> str:
    return _cap(t, "cap.quality", "Higher silhouette and lower Davies-Bouldin mean better-separated groups; "
                "chosen k={chosen}.", chosen=chosen)


def caption_silhouette(average: float | None, t: Translator = None) -> str:
    return _cap(t, "cap.silhouette", "Bars below zero are students who sit closer to another group (mean {avg}).",
                avg=f"{average or 0:.2f}")


def caption_drift(shifted: int, t: Translator = None) -> str:
    return _cap(t, "cap.drift", "{n} features shifted noticeably since the previous run (PSI above 0.2).", n=shifted)


def caption_activity(days: int, t: Translator = None) -> str:
    return _cap(t, "cap.activity", "Views per extraction date over {n} dates, with the average per student per day.",
                n=days)


def caption_path(changes: int, t: Translator = None) -> str:
    return _cap(t, "cap.path", "This student changed group {n} times.", n=changes)
