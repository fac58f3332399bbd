#!/usr/bin/env python3
"""Where approval-to-access goes, per approval (bench/README.md, "approval path profiled").

    KG_BENCH_LOG_LEVEL=debug KG_BENCH_TRACE=/tmp/trace.txt build/bench/lifecycle_bench 200 0
    bench/approval_profile.py /tmp/trace.txt

lifecycle_bench writes one line per GET-probe approval to the trace (request name, wall-clock
microseconds when bob's patch was sent, when it returned, when alice was first allowed) and
keeps the operator's log as TRACE.operator.log. The operator's debug "plan" line of the pass
that grants (its effects ensure a RoleBinding) splits each approval into: the patch call (API
server, both webhooks), patch returned -> plan (watch event, queue, policy and seal checks, the
fresh read), plan -> allowed (the RoleBinding create and the API server's authorizer).
The debug log itself slows the operator a little: read the split, take the totals from a run
without it.
"""
import datetime
import json
import sys


def micros(ts):
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1e6


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    trace = sys.argv[1]
    grants = {}  # request name -> timestamps of its granting plans
    with open(trace + ".operator.log") as log:
        for line in log:
            if '"plan"' not in line or "ensure RoleBinding" not in line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            name = entry["request"].split("/", 1)[1]
            grants.setdefault(name, []).append(micros(entry["ts"]))
    parts = {"patch call": [], "patch returned -> plan": [], "plan -> alice allowed": [],
             "total": []}
    with open(trace) as f:
        for line in f:
            name, sent, returned, allowed = line.split()
            sent, returned, allowed = int(sent), int(returned), int(allowed)
            planned = [t for t in grants.get(name, []) if t >= sent]
            if not planned:
                continue
            plan = min(planned)
            parts["patch call"].append((returned - sent) / 1000)
            parts["patch returned -> plan"].append((plan - returned) / 1000)
            parts["plan -> alice allowed"].append((allowed - plan) / 1000)
            parts["total"].append((allowed - sent) / 1000)
    n = len(parts["total"])
    if n == 0:
        sys.exit("no approval in the trace has a granting plan line: was the log level debug?")
    print(f"{n} approvals (ms)")
    for what, values in parts.items():
        print(f"  {what:24s} p50 {quantile(values, .5):6.1f}  p90 {quantile(values, .9):6.1f}  "
              f"p99 {quantile(values, .99):6.1f}  max {max(values):6.1f}")


if __name__ == "__main__":
    main()
