#!/usr/bin/env python3
"""Where approval-to-access goes, per approval (bench/README.md, "approval path profiled").

    KG_BENCH_LOG_LEVEL=debug KG_BENCH_TRACE=/tmp/trace.txt build/bench/lifecycle_bench 200 0
    bench/approval_profile.py /tmp/trace.txt

lifecycle_bench writes one line per GET-probe approval to the trace (request name, wall-clock
microseconds when bob's patch was sent, when it returned, when alice was first allowed) and
keeps the operator's log as TRACE.operator.log. At debug level the operator logs the plan of each
pass ("plan", its effects) and every API request it makes ("request": method, path, status, ms,
logged when the response arrived). For the pass that grants, that splits each approval into:

  patch call           bob's PATCH: the API server, both admission webhooks, etcd
  returned -> read     the watch event, the queue, the policy and seal checks, up to the fresh
                       read (negative when the event arrived before bob's call returned)
  fresh read           the operator's GET of the request from the API server (issue 9: no grant
                       without it)
  read -> create       planning, up to the RoleBinding POST
  RoleBinding create   the POST
  created -> allowed   the API server's authorizer sees the binding, and alice's next probe

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


def read_log(path):
    """Per request name: granting plans' times, and its fresh reads and RoleBinding creates as
    (start, end) pairs."""
    plans, reads, creates = {}, {}, []  # creates: (start, end, namespace), any request's
    with open(path) as log:
        for line in log:
            if '"plan"' not in line and '"request"' not in line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            end = micros(entry["ts"])
            if entry.get("msg") == "plan" and "ensure RoleBinding" in str(entry.get("effects")):
                name = entry["request"].split("/", 1)[1]
                plans.setdefault(name, []).append(end)
            elif entry.get("msg") == "request" and entry.get("logger") == "kube.rest":
                start = end - float(entry["ms"]) * 1000
                path = entry["path"].split("?", 1)[0].split("/")
                if entry["method"] == "GET" and "accessrequests" in path[:-1]:
                    reads.setdefault(path[-1], []).append((start, end))
                elif entry["method"] == "POST" and path[-1] == "rolebindings":
                    creates.append((start, end, path[-2]))
    return plans, reads, creates


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    trace = sys.argv[1]
    plans, reads, creates = read_log(trace + ".operator.log")
    parts = {k: [] for k in ("patch call", "returned -> read", "fresh read", "read -> create",
                             "RoleBinding create", "created -> allowed", "total")}
    with open(trace) as f:
        for line in f:
            name, sent, returned, allowed = line.split()
            sent, returned, allowed = int(sent), int(returned), int(allowed)
            planned = [t for t in plans.get(name, []) if t >= sent]
            if not planned:
                continue
            plan = min(planned)
            read = [r for r in reads.get(name, []) if sent <= r[1] <= plan]
            create = [c for c in creates if plan <= c[0] <= allowed]
            if not read or not create:
                continue
            read, create = read[-1], min(create)
            parts["patch call"].append((returned - sent) / 1000)
            parts["returned -> read"].append((read[0] - returned) / 1000)
            parts["fresh read"].append((read[1] - read[0]) / 1000)
            parts["read -> create"].append((create[0] - read[1]) / 1000)
            parts["RoleBinding create"].append((create[1] - create[0]) / 1000)
            parts["created -> allowed"].append((allowed - create[1]) / 1000)
            parts["total"].append((allowed - sent) / 1000)
    n = len(parts["total"])
    if n == 0:
        sys.exit("no approval in the trace has a granting plan, a fresh read and a create logged: "
                 "was the log level debug?")
    print(f"{n} approvals (ms)")
    for what, values in parts.items():
        print(f"  {what:20s} p50 {quantile(values, .5):6.1f}  p90 {quantile(values, .9):6.1f}  "
              f"p99 {quantile(values, .99):6.1f}  max {max(values):6.1f}")


if __name__ == "__main__":
    main()
