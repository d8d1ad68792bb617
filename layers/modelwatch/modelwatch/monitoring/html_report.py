"""A self-contained HTML drift report: a summary table and, per feature, reference-versus-current plots.

The page has no script and loads nothing: styles are inline and each plot is an
inline SVG of the share of values per bin (numeric) or category (categorical) in
the reference and in the window, so the file opens offline from S3 or a disk.
"""

from __future__ import annotations

from html import escape

from modelwatch.contracts.profile import DatasetProfile
from modelwatch.monitoring.drift.report import DriftReport, FeatureDrift
from modelwatch.monitoring.drift.tables import count_table, proportions

REFERENCE_COLOUR = "#4C78A8"
CURRENT_COLOUR = "#F58518"
MAX_CATEGORIES_PLOTTED = 20

_STYLE = """
body { font-family: "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600; color: #fff; }
.drift { background: #C62828; } .ok { background: #2E7D32; }
table { border-collapse: collapse; margin: 16px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
tr.flagged td { background: #FDECEA; }
section { margin: 24px 0; page-break-inside: avoid; }
h2 { font-size: 16px; margin: 0 0 4px 0; }
.meta { color: #555; font-size: 12px; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if value != 0 and (abs(value) < 10 ** (-digits) or abs(value) >= 1e6):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _bars_svg(labels: list[str], ref: list[float], cur: list[float], numeric: bool) -> str:
    width, height, left, bottom, top = 760, 220, 40, 70 if not numeric else 40, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    n = max(1, len(labels))
    peak = max([*ref, *cur, 1e-12])
    slot = plot_w / n
    bar = max(1.0, slot * 0.4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{peak:.0%}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>',
    ]
    for i, (label, r, c) in enumerate(zip(labels, ref, cur, strict=True)):
        x = left + i * slot + slot * 0.1
        for offset, value, colour in ((0.0, r, REFERENCE_COLOUR), (bar, c, CURRENT_COLOUR)):
            h = plot_h * value / peak
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(label)}: {value:.2%}</title></rect>'
            )
        show = not numeric or i in (0, n - 1) or n <= 12
        if show:
            text = escape(label if len(label) <= 18 else label[:17] + "…")
            lx, ly = x + bar, top + plot_h + 12
            parts.append(
                f'<text x="{lx:.1f}" y="{ly}" font-size="9" text-anchor="end" '
                f'transform="rotate(-35 {lx:.1f} {ly})">{text}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _feature_plot(result: FeatureDrift, reference: DatasetProfile, current: DatasetProfile) -> str:
    try:
        table = count_table(reference.feature(result.name), current.feature(result.name))
    except (KeyError, ValueError):
        return '<p class="meta">No plot: the profiles do not share bins.</p>'
    p_ref, p_cur = proportions(table)
    labels, ref, cur = list(table.labels), p_ref.tolist(), p_cur.tolist()
    numeric = table.ordered
    if not numeric and len(labels) > MAX_CATEGORIES_PLOTTED:
        order = sorted(range(len(labels)), key=lambda i: -max(ref[i], cur[i]))
        keep, rest = order[: MAX_CATEGORIES_PLOTTED - 1], order[MAX_CATEGORIES_PLOTTED - 1 :]
        labels = [labels[i] for i in keep] + [f"{len(rest)} others"]
        ref = [ref[i] for i in keep] + [sum(ref[i] for i in rest)]
        cur = [cur[i] for i in keep] + [sum(cur[i] for i in rest)]
    return _bars_svg(labels, ref, cur, numeric)


def render_drift_html(
    report: DriftReport,
    reference: DatasetProfile,
    current: DatasetProfile,
    title: str = "modelwatch drift report",
) -> str:
    """Render ``report`` as one self-contained HTML page.

    Parameters
    ----------
    report:
        The result of ``detect_drift(reference, current)``.
    reference, current:
        The profiles the report was computed from (their bins are plotted).
    title:
        Page title, e.g. the model, version and window.

    Returns
    -------
    str
        The HTML document.
    """
    verdict = "Dataset drift detected" if report.dataset_drift else "No dataset drift"
    rows = []
    for f in report.features:
        flags = [
            name
            for name, on in (
                ("distribution", f.distribution_drift),
                ("missing", f.missing_drift),
                ("unseen", f.unseen_drift),
            )
            if on
        ]
        rows.append(
            f'<tr class="{"flagged" if f.drift_detected else ""}"><td>{escape(f.name)}</td>'
            f'<td class="text">{f.kind}{" (prediction)" if f.role == "prediction" else ""}</td>'
            f'<td class="text">{escape(f.method)}</td><td>{_fmt(f.statistic)}</td><td>{_fmt(f.p_value)}</td>'
            f"<td>{_fmt(f.p_value_adjusted)}</td><td>{_fmt(f.effect_size)}</td><td>{_fmt(f.threshold)}</td>"
            f"<td>{f.missing_share_reference:.1%} → {f.missing_share_current:.1%}</td>"
            f'<td class="text">{"yes: " + ", ".join(flags) if flags else "no"}</td></tr>'
        )
    sections = []
    for f in report.features:
        unseen = (
            f" · unseen categories: {escape(', '.join(f.unseen_categories))}" if f.unseen_categories else ""
        )
        note = f" · {escape(f.note)}" if f.note else ""
        sections.append(
            f'<section><h2>{escape(f.name)} <span class="verdict {"drift" if f.drift_detected else "ok"}">'
            f"{'drift' if f.drift_detected else 'no drift'}</span></h2>"
            f'<div class="meta">{escape(f.method)}: statistic {_fmt(f.statistic)}, '
            f"p-value {_fmt(f.p_value)}, "
            f"effect size ({escape(f.effect_measure or '—')}) {_fmt(f.effect_size)} "
            f"vs floor {_fmt(f.threshold)}; "
            f"values: {f.n_reference:,} reference, {f.n_current:,} current{unseen}{note}</div>"
            f"{_feature_plot(f, reference, current)}</section>"
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p><span class="verdict {"drift" if report.dataset_drift else "ok"}">{verdict}</span> '
        f"{report.n_drifted_features} of {report.n_features} features drifted ({report.drift_share:.0%}; "
        f"dataset drift at {report.drift_share_threshold:.0%}). Rows: {report.n_reference:,} reference, "
        f"{report.n_current:,} current. Flagged when the Benjamini-Hochberg adjusted p-value &lt; "
        f"{report.fdr_q} and the effect size reaches its floor. "
        f"Generated {report.created_at:%Y-%m-%d %H:%M} UTC.</p>"
        f'<p class="legend"><span style="background:{REFERENCE_COLOUR}"></span>reference'
        f'<span style="background:{CURRENT_COLOUR}"></span>current</p>'
        "<table><thead><tr><th>feature</th><th>kind</th><th>method</th><th>statistic</th><th>p-value</th>"
        "<th>adjusted p</th><th>effect size</th><th>floor</th><th>missing</th><th>drift</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{''.join(sections)}</body></html>"
    )
