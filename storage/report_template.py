"""The HTML page of the compliance report (a Jinja2 template, autoescaped). Kept in a
module rather than a data file so that every kind of install carries it."""

TEMPLATE = r"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>双录质检报告 compliance report {{ s.period.from }} – {{ s.period.to }}</title>
<style>
  body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei",
         "PingFang SC", "DejaVu Sans", Arial, sans-serif; color: #222; margin: 24px;
         font-size: 13px; }
  h1 { font-size: 22px; margin-bottom: 2px; }
  h2 { font-size: 16px; border-bottom: 2px solid #1f77b4; padding-bottom: 3px;
       margin-top: 28px; }
  .meta { color: #555; margin-bottom: 14px; }
  .cards { display: flex; flex-wrap: wrap; gap: 10px; }
  .card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
  .card .v { font-size: 20px; font-weight: bold; }
  .card .k { color: #555; font-size: 11px; }
  table { border-collapse: collapse; margin: 8px 0; }
  th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
  th { background: #f1f1f1; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  .fail { color: #c62828; font-weight: bold; }
  .review { color: #ef6c00; font-weight: bold; }
  .pass { color: #2e7d32; }
  img.chart { max-width: 100%; border: 1px solid #eee; }
  .note { color: #555; font-size: 11px; }
  dl.defs dt { font-weight: bold; margin-top: 6px; }
  dl.defs dd { margin-left: 16px; }
  section { page-break-inside: avoid; break-inside: avoid; }
  @page { size: A4; margin: 14mm; }
  @media print {
    body { margin: 0; font-size: 10.5px; }
    h2 { page-break-after: avoid; break-after: avoid; }
    section.chart, table { page-break-inside: avoid; break-inside: avoid; }
    .pagebreak { page-break-before: always; break-before: page; }
  }
</style>
</head>
<body>
<h1>双录质检报告 · Compliance report</h1>
<div class="meta">Sales from <b>{{ s.period.from }}</b> to <b>{{ s.period.to }}</b>,
  branch {{ meta.branch|join(", ") if meta.branch else "all" }}.
  Generated {{ meta.generated_at }} UTC by {{ meta.actor }}. Customer data masked.</div>

{% set o = s.pass_rate.overall %}
<div class="cards">
  <div class="card"><div class="v">{{ o.recordings }}</div><div class="k">recordings</div></div>
  <div class="card"><div class="v">{{ o.machine_pass_rate|pct }}</div><div class="k">machine pass rate (双录合格率)</div></div>
  <div class="card"><div class="v">{{ o.final_pass_rate|pct }}</div><div class="k">pass rate after review</div></div>
  <div class="card"><div class="v">{{ s.reviews.reviewed }}</div><div class="k">reviewed recordings</div></div>
  <div class="card"><div class="v">{{ s.verdict_agreement.observed|pct }}</div><div class="k">verdict agreement</div></div>
  <div class="card"><div class="v">{{ s.verdict_agreement.kappa|num }}</div><div class="k">Cohen's kappa (verdict)</div></div>
</div>

<section class="chart">
<h2>Pass rate over time</h2>
<img class="chart" alt="pass rate over time" src="{{ charts.pass_rate }}">
</section>

{% macro rate_table(title, rows) %}
<section>
<h2>{{ title }}</h2>
<table>
<tr><th></th><th>recordings</th><th>pass</th><th>fail</th><th>review</th><th>error</th>
<th>machine pass rate</th><th>reviewed</th><th>pass rate after review</th></tr>
{% for r in rows %}
<tr><td>{{ r.key }}</td><td class="n">{{ r.recordings }}</td><td class="n">{{ r.pass }}</td>
<td class="n">{{ r.fail }}</td><td class="n">{{ r.review }}</td><td class="n">{{ r.error }}</td>
<td class="n">{{ r.machine_pass_rate|pct }}</td><td class="n">{{ r.reviewed }}</td>
<td class="n">{{ r.final_pass_rate|pct }}</td></tr>
{% endfor %}
</table>
</section>
{% endmacro %}
{{ rate_table("Pass rate by branch", s.pass_rate.by_branch) }}
{{ rate_table("Pass rate by staff", s.pass_rate.by_staff) }}
{{ rate_table("Pass rate by product", s.pass_rate.by_product) }}
{{ rate_table("Pass rate by " ~ s.granularity, s.pass_rate.by_period|selectattr("recordings")|list) }}

<section class="chart pagebreak">
<h2>Failures by reason</h2>
<img class="chart" alt="failures by check" src="{{ charts.failures }}">
<table>
<tr><th>check</th><th>fail</th><th>review</th><th>recordings</th></tr>
{% for f in s.failures_by_check %}
<tr><td>{{ f.check_id }}</td><td class="n">{{ f.fail }}</td><td class="n">{{ f.review }}</td>
<td class="n">{{ f.recordings }}</td></tr>
{% else %}<tr><td colspan="4">no failed or review checks</td></tr>
{% endfor %}
</table>
</section>

<section class="chart">
<h2>Agreement with reviewers by check</h2>
<img class="chart" alt="agreement by check" src="{{ charts.agreement }}">
{% set va = s.verdict_agreement %}
<p>Verdict (machine pass / not pass against the reviewer's pass / fail) over {{ va.n }}
reviewed recordings{% if va.excluded_machine_error %} ({{ va.excluded_machine_error }}
with machine verdict error left out){% endif %}: both pass {{ va.machine_pass_human_pass }},
machine pass / reviewer fail {{ va.machine_pass_human_fail }}, machine fail / reviewer pass
{{ va.machine_fail_human_pass }}, both fail {{ va.machine_fail_human_fail }};
observed agreement {{ va.observed|pct }}, chance agreement {{ va.expected|pct }},
Cohen's kappa {{ va.kappa|num }}.
{% if s.unattributed_misses %}{{ s.unattributed_misses }} recording(s) the machine passed
were failed by a reviewer who named no check.{% endif %}</p>
<table>
<tr><th>check</th><th>judged</th><th>TP</th><th>FP</th><th>FN</th><th>TN</th>
<th>precision</th><th>recall</th><th>agreement</th></tr>
{% for c in s.checks %}
<tr><td>{{ c.check_id }}</td><td class="n">{{ c.judged }}</td><td class="n">{{ c.tp }}</td>
<td class="n">{{ c.fp }}</td><td class="n">{{ c.fn }}</td><td class="n">{{ c.tn }}</td>
<td class="n">{{ c.precision|pct }}</td><td class="n">{{ c.recall|pct }}</td>
<td class="n">{{ c.agreement|pct }}</td></tr>
{% else %}<tr><td colspan="9">no reviewed recordings in this period</td></tr>
{% endfor %}
</table>
</section>

<section>
<h2>Checks that disagree most with reviewers</h2>
{% if s.most_disagreeing %}
<table>
<tr><th>check</th><th>disagreement rate</th><th>FP</th><th>FN</th><th>judged</th><th>threshold looks</th></tr>
{% for c in s.most_disagreeing %}
<tr><td>{{ c.check_id }}</td><td class="n">{{ c.disagreement_rate|pct }}</td>
<td class="n">{{ c.fp }}</td><td class="n">{{ c.fn }}</td><td class="n">{{ c.judged }}</td>
<td>{{ c.direction }}</td></tr>
{% endfor %}
</table>
{% else %}<p>No check disagrees with the reviewers in this period.</p>{% endif %}
</section>

<section>
<h2>Reviewers</h2>
<table>
<tr><th>reviewer</th><th>reviews</th><th>agree with the machine's verdict</th></tr>
{% for r in s.reviews.by_reviewer %}
<tr><td>{{ r.reviewer }}</td><td class="n">{{ r.reviews }}</td><td class="n">{{ r.agree_with_machine }}</td></tr>
{% else %}<tr><td colspan="3">no reviews in this period</td></tr>
{% endfor %}
</table>
</section>

<section class="pagebreak">
<h2>Reviewed recordings ({{ reviewed_total }})</h2>
<table>
<tr><th>recording</th><th>sale date</th><th>branch</th><th>staff</th><th>product</th>
<th>machine</th><th>flagged checks</th><th>reviewer</th><th>decision</th><th>reason</th></tr>
{% for r in reviewed %}
<tr><td>{{ r.recording_id }}</td><td>{{ r.sale_date }}</td><td>{{ r.branch_id }}</td>
<td>{{ r.staff_id }}</td><td>{{ r.product_code }} {{ r.product_name }}</td>
<td class="{{ r.machine_verdict }}">{{ r.machine_verdict }}</td><td>{{ r.flagged_checks }}</td>
<td>{{ r.reviewer }}</td><td class="{{ r.review_decision }}">{{ r.review_decision }}</td>
<td>{{ r.review_reason }}</td></tr>
{% else %}<tr><td colspan="10">none</td></tr>
{% endfor %}
</table>
{% if reviewed_total > html_rows %}<p class="note">The first {{ html_rows }} are listed;
report.csv and report.xlsx have every recording.</p>{% endif %}
</section>

<section>
<h2>Recordings not passed after review</h2>
<table>
<tr><th>recording</th><th>sale date</th><th>branch</th><th>staff</th><th>customer</th>
<th>product</th><th>machine</th><th>flagged checks</th><th>final</th></tr>
{% for r in not_passed %}
<tr><td>{{ r.recording_id }}</td><td>{{ r.sale_date }}</td><td>{{ r.branch_id }}</td>
<td>{{ r.staff_id }}</td><td>{{ r.customer_id }}</td><td>{{ r.product_code }}</td>
<td class="{{ r.machine_verdict }}">{{ r.machine_verdict }}</td><td>{{ r.flagged_checks }}</td>
<td class="{{ r.final_verdict }}">{{ r.final_verdict }}</td></tr>
{% else %}<tr><td colspan="9">none</td></tr>
{% endfor %}
</table>
</section>

<section>
<h2>Definitions</h2>
<dl class="defs">
<dt>Pass rate (双录合格率)</dt><dd>Recordings whose machine verdict is pass, over all
recordings sold in the period (error counts as not passed). <i>After review</i>: a
reviewed recording counts with the reviewer's latest decision instead.</dd>
<dt>Verdict agreement, Cohen's kappa</dt><dd>Machine verdict pass vs not pass (fail,
review) against the reviewer's pass / fail, each recording with its latest review.
kappa = (observed − chance) / (1 − chance); 1 is perfect agreement, 0 what chance gives.</dd>
<dt>Per check: TP, FP, FN, TN</dt><dd>For each check of a reviewed run that passed or
flagged (fail, review): the reviewer's agree / disagree with that check, or else the
recording decision (pass: every flag is wrong; fail: the flags are right). TP flagged and
agreed, FP flagged and disagreed, FN passed and disagreed (should have flagged), TN passed
and agreed. Precision = TP / (TP + FP): how often a flag is right. Recall = TP / (TP + FN):
how much of what reviewers fail the check catches.</dd>
<dt>Disagree most</dt><dd>Checks by (FP + FN) / judged. More FP: the threshold is too
strict; more FN: too lenient.</dd>
</dl>
</section>
</body>
</html>
"""
