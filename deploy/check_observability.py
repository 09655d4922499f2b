#!/usr/bin/env python3
"""Checks deploy/observability/ against what the services export.

- dashboard.json parses as a Grafana dashboard: panels with unique ids, each
  non-row panel with at least one Prometheus query;
- every metric a query names is in metrics.txt (the families the services
  export, kept exact by tests/tests/observability.rs; a histogram's _bucket,
  _sum and _count follow its base name) or is a recording rule of alerts.yaml;
- every knotwork_* metric alerts.yaml uses is in metrics.txt too, and every
  recording rule the alerts use is defined.

Usage: check_observability.py DIR   (exit 0 when all holds, 1 otherwise)
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

import yaml

# Metrics of other exporters the alerts may use (the kubelet's volume
# statistics, cert-manager's certificate expiry).
EXTERNAL = ("kubelet_volume_stats_", "certmanager_")
# A PromQL metric name: letters, digits, _ and :, not followed by "(" (a
# function) and not a label name inside braces or a keyword.
TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def strip_strings_and_labels(expr: str) -> str:
    """The expression without quoted strings, label matchers and ranges."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    # Grouping clauses list label names, not metrics.
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return expr


def metric_names(expr: str) -> set[str]:
    """Names in `expr` that look like metrics (knotwork_*, knotwork:* and
    the external prefixes)."""
    body = strip_strings_and_labels(expr)
    out = set()
    for m in TOKEN.finditer(body):
        name = m.group(0)
        rest = body[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function
        if name.startswith(("knotwork_", "knotwork:")) or name.startswith(EXTERNAL):
            out.add(name)
    return out


def known(name: str, exported: set[str], recorded: set[str]) -> bool:
    if name in exported or name in recorded or name.startswith(EXTERNAL):
        return True
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in exported:
            return True
    return False


def main() -> int:
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/observability")
    problems: list[str] = []
    exported = {
        line.split()[0]
        for line in (folder / "metrics.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    rules = yaml.safe_load((folder / "alerts.yaml").read_text(encoding="utf-8"))
    recorded: set[str] = set()
    exprs: list[tuple[str, str]] = []
    for group in rules.get("groups") or []:
        for rule in group.get("rules") or []:
            if "record" in rule:
                recorded.add(rule["record"])
            where = f"alerts.yaml {rule.get('record') or rule.get('alert')}"
            exprs.append((where, str(rule.get("expr", ""))))
    for where, expr in exprs:
        for name in sorted(metric_names(expr)):
            if not known(name, exported, recorded):
                problems.append(f"{where}: {name} is not exported (metrics.txt) nor recorded")

    try:
        dash = json.loads((folder / "dashboard.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        print(f"  FAIL dashboard.json does not parse: {e}")
        return 1
    panels = dash.get("panels")
    if not isinstance(panels, list) or not panels:
        problems.append("dashboard.json: no panels")
        panels = []
    if not dash.get("title") or not dash.get("uid"):
        problems.append("dashboard.json: title and uid are required")
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problems.append("dashboard.json: panel ids must be unique")
    queries = 0
    for p in panels:
        if p.get("type") == "row":
            continue
        title = p.get("title", f"panel {p.get('id')}")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"dashboard.json {title!r}: no query")
        for t in targets:
            expr = t.get("expr", "")
            names = metric_names(expr)
            if not names:
                problems.append(f"dashboard.json {title!r}: query {expr!r} names no Knotwork metric")
            for name in sorted(names):
                if not known(name, exported, recorded):
                    problems.append(f"dashboard.json {title!r}: {name} is not exported (metrics.txt) nor recorded")
            queries += 1
    for line in problems:
        print(f"  FAIL {line}")
    if problems:
        return 1
    print(f"  ok   dashboard.json: {len(panels)} panels, {queries} queries, every metric exported or recorded")
    print(f"  ok   alerts.yaml: {len(exprs)} rules use only exported or recorded metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
