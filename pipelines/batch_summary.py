"""The batch summary page: what a branch's nightly run found, for operations staff.

One HTML file per run under ``<data_dir>/reports`` (``batch.reports_dir``): counts per
verdict, every file that is not a pass with its reasons, pass rate (双录合格率) per
branch and per staff member, a chart, and a link to each recording's timeline picture.
Customer data does not appear (reasons come from the stored, masked reports).
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from sqlalchemy import select

from storage.models import BatchRun, Recording

VERDICTS = ("pass", "fail", "review", "error")
COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "review": "#ef6c00", "error": "#6a1b9a"}

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>dualrec batch {{ run.started }} {{ run.inbox }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; }
.pass { color: #2e7d32; } .fail { color: #c62828; font-weight: bold; }
.review { color: #ef6c00; font-weight: bold; } .error { color: #6a1b9a; font-weight: bold; }
.muted { color: #666; }
@media print { a { color: inherit; text-decoration: none; } }
</style></head><body>
<h1>双录 nightly batch</h1>
<p>Inbox <code>{{ run.inbox }}</code> on {{ run.host }}{% if run.branch %}, branch {{ run.branch }}{% endif %};
started {{ run.started }}, {{ run.status }}{% if run.finished %} {{ run.finished }}{% endif %};
run by {{ run.actor }}, {{ run.concurrency }} at a time; batch {{ run.key }}.</p>

<h2>Counts</h2>
<table><tr><th>files</th><th>verified now</th><th>already done (skipped)</th>
<th>not taken</th><th>left for next run</th>
{% for v in verdicts %}<th class="{{ v }}">{{ v }}</th>{% endfor %}</tr>
<tr><td class="num">{{ c.total }}</td><td class="num">{{ c.processed }}</td>
<td class="num">{{ c.skipped }}</td><td class="num">{{ c.rejected }}</td><td class="num">{{ c.deferred }}</td>
{% for v in verdicts %}<td class="num">{{ c.verdicts[v] }}</td>{% endfor %}</tr></table>
{% if chart %}<img alt="verdicts per branch" src="data:image/png;base64,{{ chart }}">{% endif %}

<h2>Needs attention</h2>
{% if attention %}
<table><tr><th>file</th><th>recording</th><th>verdict</th><th>reasons</th><th>timeline</th></tr>
{% for it in attention %}<tr><td><code>{{ it.path }}</code></td><td>{{ it.recording_id or "" }}</td>
<td class="{{ it.verdict or '' }}">{{ it.verdict or it.outcome }}</td>
<td>{% for r in it.reasons %}{{ r }}<br>{% endfor %}</td>
<td>{% if it.timeline %}<a href="{{ it.timeline }}">picture</a>{% endif %}</td></tr>
{% endfor %}</table>
{% else %}<p>Nothing: every recording passed.</p>{% endif %}

{% for title, rows in rates %}
<h2>Pass rate (双录合格率) by {{ title }}</h2>
<table><tr><th>{{ title }}</th><th>recordings</th>{% for v in verdicts %}<th>{{ v }}</th>{% endfor %}<th>pass rate</th></tr>
{% for r in rows %}<tr><td>{{ r.name }}</td><td class="num">{{ r.n }}</td>
{% for v in verdicts %}<td class="num">{{ r[v] }}</td>{% endfor %}
<td class="num">{{ "%.1f"|format(100 * r.rate) }} %</td></tr>{% endfor %}</table>
{% endfor %}

<h2>Every file</h2>
<table><tr><th>file</th><th>recording</th><th>branch</th><th>staff</th><th>what happened</th>
<th>verdict</th><th>seconds</th><th>timeline</th></tr>
{% for it in items %}<tr><td><code>{{ it.path }}</code></td><td>{{ it.recording_id or "" }}</td>
<td>{{ it.branch or "" }}</td><td>{{ it.staff or "" }}</td><td>{{ it.outcome }}</td>
<td class="{{ it.verdict or '' }}">{{ it.verdict or "" }}</td>
<td class="num">{{ "%.1f"|format(it.seconds or 0) }}</td>
<td>{% if it.timeline %}<a href="{{ it.timeline }}">picture</a>{% endif %}</td></tr>
{% endfor %}</table>
<p class="muted">dualrec {{ version }}. Outcomes: stored (new), reverified (new ruleset, engine or sale
metadata), updated (new retention dates), replaced (a never-verified recording's file
re-delivered), skipped (already stored and verified), rejected (not storable:
the reason says why), failed (could not be stored: retried, then given up), deferred
(still being copied).</p>
</body></html>
"""


def reports_dir(settings) -> Path:
    """Where batch summaries and timeline pictures go (batch.reports_dir)."""
    return Path(settings.batch.reports_dir or Path(settings.data_dir) / "reports")


class ReportsDirError(ValueError):
    """batch.reports_dir cannot take the summaries (bad configuration)."""


def check_reports_dir(settings) -> Path:
    """Create the reports folder (and its timelines/) and prove a file can be written
    there, before a batch starts: otherwise the whole run is verified and stored, and
    only its summary page fails, at the end."""
    reports = reports_dir(settings)
    where = f"batch.reports_dir {reports}"
    try:
        (reports / "timelines" if settings.batch.timelines else reports).mkdir(
            parents=True, exist_ok=True)
        probe = reports / f".dualrec-write-test.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:
        raise ReportsDirError(f"{where}: a file is in the way of the folder") from None
    except NotADirectoryError:
        raise ReportsDirError(f"{where}: a file is in the way of the folder (or of one "
                              "of its parents)") from None
    except OSError as exc:
        raise ReportsDirError(f"{where}: cannot write there "
                              f"({exc.strerror or exc})") from None
    return reports


# A picture's file name stays far below the 255-byte limit of Linux file systems,
# leaving room for the temporary name flows.draw_timeline writes it under first
# (".{name}.{pid}.{thread id}.tmp.png": about 40 bytes more).
TIMELINE_ID_BYTES = 96


def timeline_path(reports: Path, recording_id: str, run_id: int) -> Path:
    """A verification run's timeline picture under the reports folder."""
    return reports / "timelines" / f"{_file_id(recording_id)}-run{run_id}.png"


def _file_id(recording_id: str) -> str:
    """The id as it is, when short enough; a long one (128 characters of Chinese are
    384 bytes) cut on a character boundary, with a hash of the whole id so two ids
    that start alike still get pictures of their own. A cut name is always longer than
    TIMELINE_ID_BYTES, so it cannot be some short id's name."""
    raw = recording_id.encode("utf-8")
    if len(raw) <= TIMELINE_ID_BYTES:
        return recording_id
    head = raw[:TIMELINE_ID_BYTES].decode("utf-8", errors="ignore")
    return f"{head}~{hashlib.sha256(raw).hexdigest()[:16]}"


def _rates(items: list[dict], key: str) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, int]] = defaultdict(lambda: {v: 0 for v in VERDICTS})
    for it in items:
        if it.get(key) and it.get("verdict") in VERDICTS:
            groups[it[key]][it["verdict"]] += 1
    rows = []
    for name in sorted(groups):
        g = groups[name]
        n = sum(g.values())
        rows.append({"name": name, "n": n, **g, "rate": g["pass"] / n if n else 0.0})
    return rows


def _chart(rows: list[dict[str, Any]]) -> str | None:
    """Stacked bars of verdicts per branch, as base64 PNG (the page is one file)."""
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(rows) + 2.5), 2.8), dpi=100)
    bottom = [0] * len(rows)
    # Ids are data: a "$" in one must not be read as matplotlib math markup.
    names = [r["name"].replace("$", r"\$") for r in rows]
    for v in VERDICTS:
        values = [r[v] for r in rows]
        ax.bar(names, values, bottom=bottom, color=COLOURS[v], label=v)
        bottom = [b + x for b, x in zip(bottom, values)]
    ax.set_ylabel("recordings")
    ax.set_title("verdicts per branch")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def summary_items(store, batch_key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run and its items, each with the recording's branch and staff."""
    from storage.batches import run_dict

    with store.session() as s:
        run = s.scalars(select(BatchRun).where(BatchRun.batch_key == batch_key)).one()
        out = run_dict(run)
        ids = [i["recording_id"] for i in out["items"] if i["recording_id"]]
        who = {r.recording_id: (r.branch_id, r.staff_id, r.current_run_id)
               for r in s.scalars(select(Recording).where(Recording.recording_id.in_(ids)))}
    for it in out["items"]:
        it["branch"], it["staff"], it["run_id"] = who.get(it["recording_id"], (None, None, None))
    return out, out["items"]


def write_batch_summary(store, batch_key: str, settings) -> Path:
    """Write the run's summary page; returns its path."""
    from storage.batches import counts
    from verifier import __version__

    reports = reports_dir(settings)
    reports.mkdir(parents=True, exist_ok=True)
    run, items = summary_items(store, batch_key)
    for it in items:
        png = (timeline_path(reports, it["recording_id"], it["run_id"])
               if it["run_id"] and it["recording_id"] else None)  # a rejected file: none
        it["timeline"] = png.relative_to(reports).as_posix() if png and png.is_file() else None
        it["reasons"] = [r for r in (it["reason"] or "").split("; ") if r]
    attention = [it for it in items if it["verdict"] != "pass" and it["outcome"] != "deferred"]
    by_branch = _rates(items, "branch")
    started = run["started_at"][:19].replace("T", " ")
    html = Environment(autoescape=select_autoescape(default=True)).from_string(_TEMPLATE).render(
        run={"inbox": run["inbox"], "host": run["host"], "branch": run["branch"],
             "started": started, "status": run["status"],
             "finished": (run["finished_at"] or "")[:19].replace("T", " "),
             "actor": run["actor"], "concurrency": run["concurrency"], "key": batch_key},
        c=counts(items), verdicts=VERDICTS, chart=_chart(by_branch), attention=attention,
        rates=[("branch", by_branch), ("staff", _rates(items, "staff"))], items=items,
        version=__version__)
    stamp = run["started_at"][:19].replace("-", "").replace(":", "").replace("T", "-")
    out = reports / f"batch-{stamp}-{batch_key[:8]}.html"
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out


def mark_interrupted(store, why: str, batch_key: str | None = None) -> list[str]:
    """A run stopped by a signal (SIGTERM, Ctrl-C): ``crashed`` now, with the counts of
    what it did so far, rather than ``running`` until the next run on this host notices
    its pid is gone. Without `batch_key`, the runs this process is running. Returns the
    keys marked."""
    import socket

    from storage import audit
    from storage.batches import counts, item_dict
    from storage.models import utcnow

    query = select(BatchRun).where(BatchRun.status == "running")
    query = (query.where(BatchRun.batch_key == batch_key) if batch_key else
             query.where(BatchRun.host == socket.gethostname(), BatchRun.pid == os.getpid()))
    marked = []
    with store.session() as s:
        for run in s.scalars(query):
            run.status, run.finished_at = "crashed", utcnow()
            run.summary = counts([item_dict(i) for i in run.items])
            audit.append(s, run.actor, "batch", None, {"batch": run.batch_key,
                                                        "event": "interrupted", "why": why})
            marked.append(run.batch_key)
    return marked
