"""The run report (``report.html`` of ``compose generate``): every round side by side, with its
repaint mask and plan, and the final checks grouped by cause.

Boxes carry numbers, not text, so labels never overlap: each number is explained in the legend
under its image (and on hover). Failures are grouped by their cause: an instance that was not
found comes first, with the checks it makes uncheckable listed under it, so one missing object
reads as one problem, not ten.
"""

from __future__ import annotations

import html
from typing import Any

_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:90em}
.rounds{display:flex;flex-wrap:wrap;gap:1em}.round{border:1px solid #ccc;padding:.5em;width:300px}
.round.best{border:2px solid #2e7d32}.pass{color:#2e7d32}.fail{color:#c62828}
svg{display:block;border:1px solid #999}ol.legend{font-size:.8em;padding-left:1.6em;margin:.3em 0}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
.cause{margin:.6em 0}.cause ul{margin:.2em 0 .2em 1em;color:#555;font-size:.9em}
small{color:#555}"""


def failure_groups(report) -> list[dict[str, Any]]:
    """The failing hard checks of ``report`` grouped by cause: ``{"cause", "checks"}`` dicts,
    one per instance that was not found (its own checks and the ones it makes uncheckable), then
    one per remaining failing check."""
    binding = getattr(report, "binding", {}) or {}
    failing = [c for c in report.checks if c.hard and not c.passed]
    groups: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for check in failing:
        missing = [s for s in check.subjects if s in binding and binding[s] is None]
        if check.kind in ("count", "count_range", "presence") or not missing:
            key = f"check:{id(check)}"
            groups[key] = {"cause": check.reason, "checks": []}
        else:
            key = f"missing:{missing[0]}"
            groups.setdefault(key, {"cause": f"{missing[0]} was not found", "checks": []})
            groups[key]["checks"].append(check.reason)
        if key not in order:
            order.append(key)
    # counts first (they say how many are missing), then missing instances, then the rest
    order.sort(key=lambda k: (0 if k.startswith("check:") and "found" in groups[k]["cause"] else
                              1 if k.startswith("missing:") else 2))
    return [groups[k] for k in order]


def _round_svg(r, width: int = 280) -> tuple[str, list[str]]:
    from compose.verification.report import image_data_url

    w, h = r.image.size
    s = width / w
    shapes, legend = [], []
    for number, (instance, (x0, y0, x1, y1)) in enumerate(r.layout.boxes.items(), 1):
        ok = (r.report.binding or {}).get(instance) is not None if hasattr(r.report, "binding") else True
        color = "#1565c0" if ok else "#c62828"
        label = f"{instance}{'' if ok else ' (not found)'}"
        shapes.append(f'<rect x="{x0 * w * s:.1f}" y="{y0 * h * s:.1f}" width="{(x1 - x0) * w * s:.1f}" '
                      f'height="{(y1 - y0) * h * s:.1f}" fill="none" stroke="{color}" stroke-width="1" '
                      f'stroke-dasharray="3,2"><title>{html.escape(label)}</title></rect>'
                      f'<text x="{x0 * w * s + 1:.1f}" y="{y0 * h * s + 8:.1f}" font-size="8" fill="{color}">'
                      f'{number}</text>')
        legend.append(f'<li class="{"pass" if ok else "fail"}">{html.escape(label)}</li>')
    mask = ""
    if r.mask is not None:
        import numpy as np
        from PIL import Image

        m = np.asarray(r.mask.convert("L").resize((w, h)))
        rgba = np.zeros((h, w, 4), dtype=np.uint8)
        rgba[..., 0] = 255
        rgba[..., 3] = (m * 0.45).astype(np.uint8)
        mask = (f'<image href="{image_data_url(Image.fromarray(rgba))}" x="0" y="0" width="{w * s:.0f}" '
                f'height="{h * s:.0f}" style="image-rendering:pixelated"/>')
    svg = (f'<svg width="{w * s:.0f}" height="{h * s:.0f}"><image href="{image_data_url(r.image)}" x="0" y="0" '
           f'width="{w * s:.0f}" height="{h * s:.0f}" style="image-rendering:pixelated"/>{mask}{"".join(shapes)}</svg>')
    return svg, legend


def run_report_html(result) -> str:
    """A self-contained page for a :class:`compose.loop.Result`."""
    title = result.source or result.scene.prompt or "scene"
    heading = html.escape(f"compose generate: {title}")
    cards = []
    for r in result.rounds:
        svg, legend = _round_svg(r)
        strategy = r.strategy.get("strategy", "render") if r.strategy else "render"
        cost = r.cost.to_dict() if r.cost is not None else {}
        plan = ""
        if r.plan is not None:
            plan = "<ul>" + "".join(f"<li><small>{html.escape(reg.reason)}"
                                    f"{' -> ' + html.escape(reg.instance) if reg.instance else ' (background)'}"
                                    f"</small></li>" for reg in r.plan.regions) + "</ul>"
        if r.strategy and r.strategy.get("layered"):
            drawn, missed = r.strategy.get("drawn") or [], r.strategy.get("missed") or []
            plan += (f"<small>drawn alone and composited: {html.escape(', '.join(drawn) or 'none')}"
                     + (f"; not drawn right alone: {html.escape(', '.join(missed))}" if missed else "") + "</small>")
        hard = [c for c in r.report.checks if c.hard]
        verdict = "passed" if r.report.passed else f"{sum(c.passed for c in hard)}/{len(hard)} hard checks"
        cards.append(
            f'<div class="round{" best" if r.index == result.best else ""}"><b>round {r.index}: {html.escape(strategy)}</b>'
            f'{" (kept)" if r.index == result.best else ""}<br><span class="{"pass" if r.report.passed else "fail"}">'
            f'{verdict}</span> <small>seed {r.seed}; {cost.get("nfe", 0)} NFE, '
            f'{cost.get("renders", 0)} renders\' worth, {cost.get("seconds", 0):.2f} s</small>{svg}'
            f'<details><summary>boxes ({len(legend)})</summary><ol class="legend">{"".join(legend)}</ol></details>'
            f'{plan}</div>')
    groups = failure_groups(result.report)
    causes = "".join(
        f'<div class="cause fail">{html.escape(g["cause"])}'
        + (f'<ul>{"".join(f"<li>{html.escape(c)}</li>" for c in g["checks"])}</ul>' if g["checks"] else "")
        + "</div>" for g in groups) or '<p class="pass">every hard check passes</p>'
    rows = "".join(
        f"<tr><td class='{'pass' if c.passed else ('fail' if c.hard else '')}'>{'pass' if c.passed else 'FAIL'}"
        f"{'' if c.hard else ' (soft)'}</td><td>{html.escape(c.kind)}</td><td>{html.escape(c.reason)}</td></tr>"
        for c in result.report.checks)
    total = result.cost.to_dict()
    verdict = "PASSED" if result.passed else "FAILED"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{heading}</title><style>{_CSS}</style></head>
<body><h1>{heading}</h1>
<p class="{'pass' if result.passed else 'fail'}"><b>{verdict}</b> ({result.mode}, backbone {html.escape(result.backbone)},
seed {result.seed}): kept round {result.best} of {len(result.rounds)}; {total['nfe']} NFE,
{total['renders']} renders' worth in all. Red shading is each round's repaint mask; dashed boxes are
the layout (red: not found), numbered as in the list under each image.</p>
<div class="rounds">{''.join(cards)}</div>
<h2>Failures of the kept round, by cause</h2>{causes}
<details><summary>every check ({len(result.report.checks)})</summary><table>{rows}</table></details>
</body></html>
"""
