"""The report's Jinja2 templates: one HTML page and one Markdown file.

Kept as strings in a module (not template files) so that every way of
installing the package carries them.  The HTML environment autoescapes every
``{{ value }}``; the Markdown environment escapes every value for Markdown
(see ``_render.md_escape``).  Neither template marks a value ``|safe``.
"""

from __future__ import annotations

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; color: #1b1f24; background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 12px 16px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0; }
h2 { font-size: 1.35em; margin: 1.2em 0 0.4em; }
h3 { font-size: 1.15em; margin: 1em 0 0.3em; }
h4, h5, h6 { font-size: 1em; margin: 0.9em 0 0.3em; }
section.top { border-top: 3px solid #d0d7de; margin-top: 28px; }
section.run { border-left: 3px solid #eaeef2; padding-left: 12px; margin: 18px 0; }
.muted, figcaption { color: #57606a; font-size: 0.9em; }
.path { overflow-wrap: anywhere; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: 8px 0 14px; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
th.right, td.right { text-align: right; font-variant-numeric: tabular-nums; }
td.right { white-space: nowrap; }
th.center, td.center { text-align: center; }
table.kv td { overflow-wrap: anywhere; min-width: 8em; }
table.kv td:first-child { white-space: nowrap; color: #57606a; min-width: 0; }
img { max-width: 100%; height: auto; }
img.fig { display: block; margin: 8px 0; border: 1px solid #eaeef2; }
figure { margin: 10px 0 16px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.88em; }
code { background: #f6f8fa; padding: 0 3px; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f6f8fa; padding: 8px 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
details { margin: 6px 0; }
details > summary { cursor: pointer; font-weight: 600; padding: 2px 0; }
.verdict { list-style: none; border-left: 4px solid #8c959f; background: #f6f8fa; padding: 6px 10px;
  margin: 6px 0 6px -1.2em; }
ul.verdicts { padding-left: 1.2em; }
.verdict.supported { border-color: #1a7f37; }
.verdict.not-supported { border-color: #cf222e; }
.verdict.inconclusive { border-color: #bf8700; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; color: #fff; background: #6e7781;
  border-radius: 10px; padding: 0 7px; white-space: nowrap; }
.badge.supported, .badge.finished { background: #1a7f37; }
.badge.not-supported, .badge.diverged { background: #cf222e; }
.badge.inconclusive, .badge.unfinished { background: #9a6700; }
.warn { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; margin: 10px 0; }
.warn li { overflow-wrap: anywhere; }
.missing { color: #cf222e; font-style: italic; }
nav ul { padding-left: 1.2em; margin: 4px 0; }
@media (max-width: 600px) {
  body { font-size: 14px; }
  main { padding: 8px 10px 32px; }
  section.run { padding-left: 8px; }
}
"""

HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="classicnets {{ version }}">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
{%- macro inl(tokens) -%}
{%- for t in tokens -%}
{%- if t.kind == "text" -%}{{ t.text }}
{%- elif t.kind == "code" -%}<code>{{ t.text }}</code>
{%- elif t.kind == "strong" -%}<strong>{{ t.text }}</strong>
{%- elif t.kind == "em" -%}<em>{{ t.text }}</em>
{%- elif t.kind == "link" -%}<a href="{{ t.target }}" rel="noopener noreferrer">{{ t.text }}</a>
{%- elif t.kind == "image" and t.image -%}<img class="fig" src="{{ t.image.src }}" alt="{{ t.text }}">
{%- elif t.kind == "image" -%}<span class="missing">[image {{ t.target }} not shown: {{ t.problem }}]</span>
{%- endif -%}
{%- endfor -%}
{%- endmacro -%}

{%- macro blocks(bs) -%}
{%- for b in bs %}
{%- if b.kind == "heading" %}
<h{{ b.level }}>{{ inl(b.inlines) }}</h{{ b.level }}>
{%- elif b.kind == "paragraph" and b.verdict %}
<p class="verdict {{ b.verdict | css }}">{{ inl(b.inlines) }}</p>
{%- elif b.kind == "paragraph" %}
<p>{{ inl(b.inlines) }}</p>
{%- elif b.kind == "list" %}
<{{ "ol" if b.ordered else "ul" }}{% if b.item_verdicts | select | list %} class="verdicts"{% endif %}>
{%- for item, verdict in b.list_items %}
<li{% if verdict %} class="verdict {{ verdict | css }}"{% endif %}>{{ inl(item) }}</li>
{%- endfor %}
</{{ "ol" if b.ordered else "ul" }}>
{%- elif b.kind == "table" %}
<div class="scroll"><table>
<thead><tr>
{%- for cell in b.header %}<th class="{{ b.align[loop.index0] }}">{{ inl(cell) }}</th>{% endfor -%}
</tr></thead>
<tbody>
{%- for row in b.rows %}
<tr>{% for cell in row %}<td class="{{ b.align[loop.index0] }}">{{ inl(cell) }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody></table></div>
{%- elif b.kind == "code" %}
<pre>{{ b.text }}</pre>
{%- elif b.kind == "rule" %}
<hr>
{%- endif %}
{%- endfor %}
{%- endmacro -%}

{%- macro kv(pairs) -%}
<div class="scroll"><table class="kv"><tbody>
{%- for k, v in pairs %}
<tr><td>{{ k }}</td><td>{{ v }}</td></tr>
{%- endfor %}
</tbody></table></div>
{%- endmacro -%}

{%- macro grid(t) -%}
<div class="scroll"><table>
<thead><tr>
{%- for c in t.columns %}<th class="{{ 'right' if loop.index0 in t.right else 'left' }}">{{ c }}</th>{% endfor -%}
</tr></thead>
<tbody>
{%- for row in t.rows %}
<tr>
{%- for c in row %}<td class="{{ 'right' if loop.index0 in t.right else 'left' }}">
{%- if c is mapping %}<a href="#{{ c.href }}">{{ c.text }}</a>{% else %}{{ c }}{% endif %}</td>
{%- endfor %}</tr>
{%- endfor %}
</tbody></table></div>
{%- if t.notes %}<ul class="muted">{% for n in t.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{%- endmacro -%}

{%- macro figure(img) -%}
<figure><img class="fig" src="{{ img.src }}" alt="{{ img.caption }}"><figcaption>{{ img.caption }}</figcaption></figure>
{%- endmacro -%}

{%- macro run_body(r) -%}
<p><span class="badge {{ r.status | css }}">{{ r.status }}</span> {{ r.line }}</p>
{%- if r.message %}<pre>{{ r.message }}</pre>{% endif %}
{%- if r.notes %}<ul class="muted">{% for n in r.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{%- if r.metrics.rows %}
{{ grid(r.metrics) }}
{%- endif %}
{%- if r.curves %}
{{ figure(r.curves) }}
{%- endif %}
{%- if r.config %}
<details><summary>Configuration (config.toml)</summary>{{ kv(r.config) }}</details>
{%- endif %}
{%- if r.env %}
<details><summary>Environment (env.json)</summary>{{ kv(r.env) }}</details>
{%- endif %}
{%- if r.data %}
<details><summary>Data (data.json, classes.json)</summary>{{ kv(r.data) }}</details>
{%- endif %}
{%- if r.history.rows %}
<details><summary>Metrics per epoch (metrics.csv)</summary>{{ grid(r.history) }}</details>
{%- endif %}
{%- if r.files %}
<details><summary>Files</summary>{{ kv(r.files) }}</details>
{%- endif %}
{%- endmacro -%}
<body>
<main>
<h1>{{ title }}</h1>
<p class="muted">Made by classicnets {{ version }} on {{ created }} from {{ made_from }}.</p>
{%- if warnings %}
<div class="warn" id="warnings"><strong>Left out ({{ warnings | length }}):</strong>
<ul>{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul></div>
{%- endif %}

<nav><strong>Contents</strong>
<ul>
{%- if verdicts %}<li><a href="#verdicts">Verdicts</a></li>{% endif %}
<li><a href="#comparison">Comparison of all runs</a></li>
{%- for e in experiments %}
<li><a href="#{{ e.id }}">{{ e.short }}</a>: {{ e.title }}</li>
{%- endfor %}
{%- for r in runs %}
<li><a href="#{{ r.id }}">{{ r.name }}</a></li>
{%- endfor %}
</ul></nav>

{%- if verdicts %}
<section class="top" id="verdicts">
<h2>Verdicts</h2>
<ul class="verdicts">
{%- for v in verdicts %}
<li class="verdict {{ v.status | css }}"><span class="badge {{ v.status | css }}">{{ v.status }}</span>
<a href="#{{ v.exp_id }}">{{ v.experiment }}</a>: {{ v.line }}</li>
{%- endfor %}
</ul>
</section>
{%- endif %}

<section class="top" id="comparison">
<h2>Comparison of all runs</h2>
{{ grid(comparison) }}
{%- if comparison_figure %}
{{ figure(comparison_figure) }}
{%- endif %}
</section>

{%- for e in experiments %}
<section class="top" id="{{ e.id }}">
<h2>{{ e.title }}</h2>
<p class="muted path">Experiment directory: {{ e.path }}</p>
{%- if e.notes %}<ul class="warn">{% for n in e.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{{ kv(e.facts) }}
{%- if e.blocks %}
<div class="summary">{{ blocks(e.blocks) }}</div>
{%- else %}
{%- if e.verdicts %}
<h3>Verdicts</h3>
<ul class="verdicts">
{%- for v in e.verdicts %}<li class="verdict {{ v.status | css }}">{{ v.line }}</li>{% endfor -%}
</ul>
{%- endif %}
{%- for t in e.tables %}
<h4>{{ t.title }}</h4>
{{ grid(t) }}
{%- endfor %}
{%- if e.result_notes %}
<h3>Notes</h3>
<ul>{% for n in e.result_notes %}<li>{{ n }}</li>{% endfor %}</ul>
{%- endif %}
{%- endif %}
{%- if e.figures %}
<h3>{{ "More figures" if e.blocks else "Figures" }}</h3>
{%- for img in e.figures %}
{{ figure(img) }}
{%- endfor %}
{%- endif %}
{%- if e.problems %}
<ul class="warn">{% for p in e.problems %}<li>{{ p }}</li>{% endfor %}</ul>
{%- endif %}
{%- if e.env %}
<details><summary>Environment (results.json)</summary>{{ kv(e.env) }}</details>
{%- endif %}
<h3>Runs of this experiment ({{ e.runs | length }})</h3>
{%- for r in e.runs %}
<section class="run" id="{{ r.id }}">
<h4>{{ r.name }}</h4>
{{ run_body(r) }}
</section>
{%- endfor %}
</section>
{%- endfor %}

{%- for r in runs %}
<section class="top" id="{{ r.id }}">
<h2>{{ r.name }}</h2>
<p class="muted path">Run directory: {{ r.path }}</p>
{{ run_body(r) }}
</section>
{%- endfor %}
</main>
</body>
</html>
"""

MARKDOWN = r"""
{%- macro inl(tokens, table=false) -%}
{%- for t in tokens -%}
{%- if t.kind == "text" -%}{{ t.text }}
{%- elif t.kind == "code" -%}{{ t.text | mdcode(table) }}
{%- elif t.kind == "strong" -%}**{{ t.text }}**
{%- elif t.kind == "em" -%}*{{ t.text }}*
{%- elif t.kind == "link" -%}[{{ t.text }}]({{ t.target | mdurl }})
{%- elif t.kind == "image" and t.image -%}
{%- if not table and not loop.first %}{{ "\n" | mdraw }}{% endif %}![{{ t.text }}]({{ t.image.src }})
{%- elif t.kind == "image" -%}*[image {{ t.target }} not shown: {{ t.problem }}]*
{%- endif -%}
{%- endfor -%}
{%- endmacro -%}

{%- macro blocks(bs) -%}
{%- for b in bs %}
{%- if b.kind == "heading" %}
{{ ("#" * b.level) | mdraw }} {{ inl(b.inlines) }}
{% elif b.kind == "paragraph" %}
{{ inl(b.inlines) }}
{% elif b.kind == "list" %}
{%- for item in b.items %}
{{ ((loop.index | string) + "." if b.ordered else "-") | mdraw }} {{ inl(item) }}
{%- endfor %}
{% elif b.kind == "table" %}
|{% for cell in b.header %} {{ inl(cell, true) }} |{% endfor %}
|{% for a in b.align %}{{ {"right": "---:", "center": ":---:"}.get(a, "---") | mdraw }}|{% endfor %}
{%- for row in b.rows %}
|{% for cell in row %} {{ inl(cell, true) }} |{% endfor %}
{%- endfor %}
{% elif b.kind == "code" %}
{{ b.text | mdfence }}
{% elif b.kind == "rule" %}
---
{% endif %}
{%- endfor %}
{%- endmacro -%}

{%- macro kv(pairs) %}
| | |
|---|---|
{%- for k, v in pairs %}
| {{ k }} | {{ v }} |
{%- endfor %}
{% endmacro -%}

{%- macro grid(t) %}
|{% for c in t.columns %} {{ c }} |{% endfor %}
|{% for c in t.columns %}{{ ("---:" if loop.index0 in t.right else "---") | mdraw }}|{% endfor %}
{%- for row in t.rows %}
|{% for c in row %} {{ c.text if c is mapping else c }} |{% endfor %}
{%- endfor %}
{% for n in t.notes %}
- {{ n }}
{%- endfor %}
{% endmacro -%}

{%- macro details(summary, body) %}
<details><summary>{{ summary }}</summary>
{{ body }}
</details>
{% endmacro -%}

{%- macro run_body(r) %}
**{{ r.status }}**: {{ r.line }}
{%- if r.message %}

{{ r.message | mdfence }}
{%- endif %}
{% for n in r.notes %}
- {{ n }}
{%- endfor %}
{% if r.metrics.rows %}{{ grid(r.metrics) }}{% endif %}
{%- if r.curves %}
![{{ r.curves.caption }}]({{ r.curves.src }})
{% endif %}
{%- if r.config %}{{ details("Configuration (config.toml)", kv(r.config)) }}{% endif %}
{%- if r.env %}{{ details("Environment (env.json)", kv(r.env)) }}{% endif %}
{%- if r.data %}{{ details("Data (data.json, classes.json)", kv(r.data)) }}{% endif %}
{%- if r.history.rows %}{{ details("Metrics per epoch (metrics.csv)", grid(r.history)) }}{% endif %}
{%- endmacro -%}
# {{ title }}

Made by classicnets {{ version }} on {{ created }} from {{ made_from }}.
{% if warnings %}
**Left out ({{ warnings | length }}):**
{% for w in warnings %}
- {{ w }}
{%- endfor %}
{% endif %}
{%- if verdicts %}
## Verdicts
{% for v in verdicts %}
- **{{ v.experiment }}**: {{ v.line }}
{%- endfor %}
{% endif %}
## Comparison of all runs
{{ grid(comparison) }}
{%- if comparison_figure %}
![{{ comparison_figure.caption }}]({{ comparison_figure.src }})
{% endif %}
{%- for e in experiments %}
## {{ e.title }}

Experiment directory: {{ e.path }}
{% for n in e.notes %}
- {{ n }}
{%- endfor %}
{{ kv(e.facts) }}
{%- if e.blocks %}
{{ blocks(e.blocks) }}
{%- else %}
{%- if e.verdicts %}
### Verdicts
{% for v in e.verdicts %}
- {{ v.line }}
{%- endfor %}
{% endif %}
{%- for t in e.tables %}
#### {{ t.title }}
{{ grid(t) }}
{%- endfor %}
{%- if e.result_notes %}
### Notes
{% for n in e.result_notes %}
- {{ n }}
{%- endfor %}
{% endif %}
{%- endif %}
{%- if e.figures %}
### {{ "More figures" if e.blocks else "Figures" }}
{% for img in e.figures %}
![{{ img.caption }}]({{ img.src }})
{%- endfor %}
{% endif %}
{%- for p in e.problems %}
- {{ p }}
{%- endfor %}
{%- if e.env %}{{ details("Environment (results.json)", kv(e.env)) }}{% endif %}
### Runs of this experiment ({{ e.runs | length }})
{% for r in e.runs %}
#### {{ r.name }}

{{ run_body(r) }}
{%- endfor %}
{%- endfor %}
{%- for r in runs %}
## {{ r.name }}

Run directory: {{ r.path }}

{{ run_body(r) }}
{%- endfor %}
"""
