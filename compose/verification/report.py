"""Verification reports: JSON for programs, an HTML page per image and a page per batch.

A :class:`Report` holds everything one verification found: the checks with their verdicts, the
detections, the binding of scene instances to detections, and what was compared (scene, layout,
detector). Its JSON has ``passed`` (every hard check passed) and ``checks`` (each with ``kind``,
``passed``, ``score``, ``reason``, ``hard``, ``subjects`` and ``detections``).

The HTML pages are self-contained (the image inline as a data URL, boxes drawn in SVG, no
scripts), so a report folder can be copied anywhere and opened.

Examples
--------
>>> from compose.verification.checks import Check
>>> from compose.scene import Scene
>>> r = Report(scene=Scene(), checks=[Check("count", False, 0.5, "found 1 mug, expected 2")],
...            detections=[], image_size=(64, 64), detector="world")
>>> r.passed, r.to_dict()["checks"][0]["reason"]
(False, 'found 1 mug, expected 2')
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compose.errors import VerificationError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from compose.layouts import Layout
    from compose.scene import Scene
    from compose.verification.checks import Check
    from compose.verification.detection import Detection


@dataclass
class Report:
    """What verifying one image against one scene found."""

    scene: Scene
    checks: list[Check]
    detections: list[Detection]
    image_size: tuple[int, int]
    detector: str
    layout: Layout | None = None
    binding: dict[str, int | None] = field(default_factory=dict)
    count_rule: str = "exact"
    image_path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every hard check passed (soft relations never fail an image)."""
        return all(c.passed for c in self.checks if c.hard)

    @property
    def failed(self) -> list[Check]:
        """The hard checks that failed."""
        return [c for c in self.checks if c.hard and not c.passed]

    @property
    def score(self) -> float:
        """Mean score of the hard checks (1.0 when there are none)."""
        hard = [c.score for c in self.checks if c.hard]
        return sum(hard) / len(hard) if hard else 1.0

    def raise_for_failure(self) -> None:
        """Raise ``VerificationError`` E501 when a hard check failed."""
        if not self.passed:
            raise VerificationError("E501", failed=len(self.failed), total=sum(c.hard for c in self.checks))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "score": round(self.score, 4),
            "checks": [c.to_dict() for c in self.checks],
            "detections": [d.to_dict() for d in self.detections],
            "binding": dict(self.binding),
            "image_size": list(self.image_size),
            "detector": self.detector,
            "count_rule": self.count_rule,
        }
        if self.image_path is not None:
            out["image"] = self.image_path
        if self.scene.prompt:
            out["prompt"] = self.scene.prompt
        if self.layout is not None:
            out["layout_boxes"] = {k: list(v) for k, v in self.layout.boxes.items()}
        if self.timings:
            out["timings"] = {k: round(v, 5) for k, v in self.timings.items()}
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary(self) -> str:
        """One line: verdict, hard checks passed, and the first failing reasons."""
        hard = [c for c in self.checks if c.hard]
        head = f"{'PASS' if self.passed else 'FAIL'}: {sum(c.passed for c in hard)}/{len(hard)} hard checks passed"
        if self.failed:
            head += "; " + "; ".join(c.reason for c in self.failed[:3])
        return head

    def to_html(self, image: Image.Image, *, title: str | None = None) -> str:
        """A self-contained page: the image with detections (solid) and the layout's expected
        boxes (dashed) drawn, and every check with its verdict."""
        w, h = image.size
        scale = max(1, 512 // max(w, h))
        failing = {k for c in self.failed for k in c.detections}
        shapes = []
        if self.layout is not None:
            for inst, box in self.layout.boxes.items():
                x0, y0, x1, y1 = box
                shapes.append(_svg_box(x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h, "#1565c0", inst, dashed=True))
        for k, det in enumerate(self.detections):
            x0, y0, x1, y1 = det.box
            label = f"[{k}] {det.color + ' ' if det.color else ''}{det.class_name} {det.score:.2f}"
            shapes.append(_svg_box(x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h,
                                   "#c62828" if k in failing else "#2e7d32", label))
        rows = "\n".join(
            f"<tr class='{'pass' if c.passed else ('fail' if c.hard else 'soft')}'><td>{'pass' if c.passed else 'FAIL'}"
            f"{'' if c.hard else ' (soft)'}</td><td>{html.escape(c.kind)}</td><td>{c.score:.2f}</td>"
            f"<td>{html.escape(', '.join(c.subjects))}</td><td>{html.escape(c.reason)}</td>"
            f"<td>{html.escape(', '.join(str(k) for k in c.detections))}</td></tr>" for c in self.checks)
        heading = html.escape(title or self.scene.prompt or self.image_path or "verification report")
        verdict = "PASSED" if self.passed else "FAILED"
        return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{heading}</title><style>{_CSS}</style></head>
<body><h1>{heading}</h1>
<p class="{'pass' if self.passed else 'fail'} verdict">{verdict}: {html.escape(self.summary())}</p>
<p>detector <code>{html.escape(self.detector)}</code>, count rule <code>{self.count_rule}</code>,
{len(self.detections)} detections; solid boxes are detections (red when a failing check used them),
dashed boxes the layout's expected boxes.</p>
<svg width="{w * scale}" height="{h * scale}" viewBox="0 0 {w} {h}" style="image-rendering:pixelated">
<image href="{image_data_url(image)}" x="0" y="0" width="{w}" height="{h}"/>
{''.join(shapes)}
</svg>
<table><tr><th>verdict</th><th>kind</th><th>score</th><th>about</th><th>reason</th><th>detections</th></tr>
{rows}
</table>
<details><summary>JSON</summary><pre>{html.escape(self.to_json())}</pre></details>
</body></html>
"""


def image_data_url(image: Image.Image) -> str:
    """The image as an inline PNG ``data:`` URL."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _svg_box(x: float, y: float, w: float, h: float, color: str, label: str, *, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="1.5,1"' if dashed else ""
    return (f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="none" stroke="{color}" '
            f'stroke-width="0.6"{dash}><title>{html.escape(label)}</title></rect>'
            f'<text x="{x + 0.5:.2f}" y="{(y + 3) if dashed else (y - 0.6):.2f}" font-size="2.6" fill="{color}">'
            f'{html.escape(label)}</text>')


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:70em}
table{border-collapse:collapse;margin-top:1em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
tr.pass td:first-child,.pass{color:#2e7d32}tr.fail td:first-child,.fail{color:#c62828;font-weight:bold}
tr.soft td:first-child{color:#ef6c00}.verdict{font-size:1.2em}svg{border:1px solid #999;display:block;margin-top:1em}
.bar{fill:#42a5f5}pre{white-space:pre-wrap}"""


def _verdict(row: dict[str, Any]) -> str:
    if row.get("read_in_part"):
        return "partial"
    if row.get("error"):
        return "error"
    return "pass" if row.get("correct") else "fail"


def _worst_first(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {"error": 0, "fail": 1, "partial": 2, "pass": 3}
    return sorted(rows, key=lambda r: (rank[_verdict(r)], float(r.get("score") or 0.0), str(r.get("id", ""))))


def batch_html(summary: dict[str, Any], rows: Sequence[dict[str, Any]], *, title: str = "batch verification",
               base: Any = None) -> str:
    """The page of a batch (``index.html``): accuracy per tag (or category) as bars, then every
    image, worst first (errors, then failures by score, then passes), with its detections drawn
    (red where a failing check used them) and links to its page; a filter by tag and verdict
    (also read from the address: ``index.html#tag=counting&verdict=fail``).

    ``base`` is the folder the page is written to: image paths are made relative to it.
    """
    import os

    tags = summary["tags"]
    bar_h, width = 22, 360
    bars = []
    for i, (tag, e) in enumerate(tags.items()):
        y = i * (bar_h + 6)
        bars.append(f'<g class="tagbar" data-tag="{html.escape(tag)}"><text x="0" y="{y + 15}" font-size="13">{html.escape(tag)}</text>'
                    f'<rect class="bar" x="150" y="{y}" width="{e["accuracy"] * width:.1f}" height="{bar_h}"/>'
                    f'<rect x="150" y="{y}" width="{width}" height="{bar_h}" fill="none" stroke="#999"/>'
                    f'<text x="{156 + width}" y="{y + 15}" font-size="13">{e["accuracy"]:.1%} ({e["correct"]}/{e["total"]})</text></g>')
    svg_h = max(1, len(tags)) * (bar_h + 6)
    all_tags = list(dict.fromkeys([*tags, *(str(r.get("tag") or "untagged") for r in rows)]))
    cards = []
    for row in _worst_first(rows):
        verdict = _verdict(row)
        tag = str(row.get("tag") or "untagged")
        image = str(row.get("image") or "")
        src = image
        if base is not None and image:
            try:
                src = os.path.relpath(image, base)
            except ValueError:  # another drive (Windows)
                src = image
        failing = {k for c in row.get("checks", []) if c.get("hard", True) and not c.get("passed") for k in c.get("detections", [])}
        boxes = []
        for k, det in enumerate(row.get("detections") or []):
            x0, y0, x1, y1 = det["box"]
            label = f"{det.get('color', '') + ' ' if det.get('color') else ''}{det['class']} {det['score']:.2f}"
            kind = "bad" if k in failing or (verdict == "fail" and row.get("protocol") == "geneval") else "good"
            boxes.append(f"<span class='box {kind}' style='left:{x0:.2%};top:{y0:.2%};width:{x1 - x0:.2%};"
                         f"height:{y1 - y0:.2%}' title='{html.escape(label)}'><i>{html.escape(label)}</i></span>")
        rid = html.escape(str(row.get("id", "")))
        name = f"<a href='{html.escape(row['page'])}'>{rid}</a>" if row.get("page") else rid
        notes = html.escape(str(row.get("reason") or ""))
        if row.get("read_in_part"):
            notes = "prompt read only in part (not scored): " + html.escape("; ".join(row.get("warnings") or []))
        cards.append(f"<div class='card {verdict}' data-tag='{html.escape(tag)}' data-verdict='{verdict}' data-id='{rid}'>"
                     f"<div class='pic'><img loading='lazy' src='{html.escape(src)}' alt='{rid}'>{''.join(boxes)}</div>"
                     f"<p><b class='{verdict}'>{verdict}</b> {html.escape(tag)} {name}<br>{html.escape(str(row.get('prompt') or ''))}"
                     f"<br><small>{notes}</small></p></div>")
    tag_options = "".join(f"<option value='{html.escape(t)}'>{html.escape(t)}</option>" for t in all_tags)
    partial = summary.get("read_in_part", {})
    partial_note = (f"<p>{partial.get('images', 0)} images of {len(partial.get('prompts', []))} prompts read only in part "
                    f"are not scored.</p>" if partial.get("images") else "")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}{_BATCH_CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{summary['images']} images, {summary['prompts']} prompts; correct images {summary['correct_images']:.2%},
correct prompts {summary['correct_prompts']:.2%}; <b>overall score (mean over tags) {summary['overall']:.5f}</b></p>
{partial_note}
<svg id="bars" width="{width + 290}" height="{svg_h}">{''.join(bars)}</svg>
<form id="filter">tag <select id="tag"><option value="">all</option>{tag_options}</select>
verdict <select id="verdict"><option value="">all</option><option>fail</option><option>error</option>
<option>pass</option><option>partial</option></select> <span id="shown">{len(cards)}</span> of {len(cards)} shown</form>
<div id="cards">{''.join(cards)}</div>
<script>{_BATCH_JS}</script>
</body></html>
"""


_BATCH_CSS = """#cards{display:flex;flex-wrap:wrap;gap:.8em;margin-top:1em}.card{width:260px;border:1px solid #ccc;padding:.4em}
.card[hidden]{display:none}.pic{position:relative;line-height:0}.pic img{width:100%}.box{position:absolute;border:2px solid}
.box.good{border-color:#2e7d32}.box.bad{border-color:#c62828}.box i{font:10px sans-serif;background:#fffc;position:absolute;
top:-12px;left:0;white-space:nowrap;line-height:12px}.card p{margin:.3em 0;font-size:.85em}.partial{color:#ef6c00}
.error{color:#6a1b9a;font-weight:bold}"""

_BATCH_JS = """(function(){
var tag=document.getElementById('tag'),verdict=document.getElementById('verdict');
function apply(){var n=0;document.querySelectorAll('#cards .card').forEach(function(c){
var ok=(!tag.value||c.dataset.tag===tag.value)&&(!verdict.value||c.dataset.verdict===verdict.value);
c.hidden=!ok;if(ok)n++;});document.getElementById('shown').textContent=n;
var h=[];if(tag.value)h.push('tag='+encodeURIComponent(tag.value));if(verdict.value)h.push('verdict='+verdict.value);
history.replaceState(null,'',h.length?'#'+h.join('&'):location.pathname);}
var q=new URLSearchParams(location.hash.slice(1));if(q.get('tag'))tag.value=q.get('tag');if(q.get('verdict'))verdict.value=q.get('verdict');
tag.onchange=apply;verdict.onchange=apply;apply();})();"""
