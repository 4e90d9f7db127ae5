"""The failover test's verdict (scripts/deploy/failover.sh): what the clients got (the load
generator's tables), what haproxy logged for each request (which replica answered, retries,
termination state) and the events, as Markdown tables. Exits 1 unless every request was
answered by a replica with 200, 429 or 503 and the two counts agree.

Usage: failover_report.py RUN_DIR T0_MS SECONDS
"""

import collections
import datetime
import pathlib
import re
import sys

ALLOWED = {200, 429, 503}  # 429/503: the servers' own overload answers (queue, memory, loading)
LOG = re.compile(
    r"^(?P<time>\S+) (?P<status>\d{3}) (?P<method>\S+) (?P<path>\S+) "
    r"(?P<backend>[^/\s]+)/(?P<server>\S+) (?P<term>\S{4}) (?P<retries>\+?\d+) (?P<ta>-?\d+)$"
)
STATE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\S+) .*Server replicas/(?P<server>r\d+) is (?P<state>UP|DOWN)")
EVENT = re.compile(r"^\s*(?P<s>\d+\.\d+) s\s+(?P<name>\S+)\s+(?P<who>\S+)\s+(?P<text>.*)$")


def client_counts(run: pathlib.Path):
    """Per route, the load generator's status counts (0 = connection error) and its row, by
    column name (from its header line)."""
    out = {}
    for f in sorted(run.glob("load-*.txt")):
        header = None
        for line in f.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if "statuses" in cells:
                header = cells
            elif header and len(cells) == len(header) and cells[0].startswith("/"):
                row = dict(zip(header, cells))
                counts = collections.Counter()
                for part in filter(None, (p.strip() for p in row["statuses"].split(","))):
                    status, n = part.split(":")
                    counts[int(status)] += int(n)
                out[cells[0]] = (counts, row)
    return out


def main() -> int:
    run, t0_ms, secs = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

    def since_t0(iso: str) -> float:
        return datetime.datetime.fromisoformat(iso).timestamp() - t0_ms / 1000

    clients = client_counts(run)
    requests, states = [], []
    for line in (run / "haproxy.log").read_text().splitlines():
        if (m := LOG.match(line)) and m["backend"] == "replicas":
            requests.append(m)
        elif m := STATE.match(line):
            states.append((since_t0(m["time"]), m["server"], m["state"]))
    events = [m for line in (run / "events.txt").read_text().splitlines() if (m := EVENT.match(line))]

    failures = []
    sent = collections.Counter()
    print(f"\nLoad through haproxy: {secs} s, {len(clients)} routes (the load generator's rows)\n")
    print("| route | clients | requests/s | p50 ms | p99 ms | statuses |")
    print("|---|---|---|---|---|---|")
    for route, (counts, row) in clients.items():
        cols = ("clients", "requests/s", "p50 ms", "p99 ms", "statuses")
        print(f"| {route} | " + " | ".join(row.get(c, "-") for c in cols) + " |")
        sent.update(counts)
    total = sum(sent.values())

    # A normal end ("--") with a server named: the replica's own answer. Otherwise haproxy
    # answered (no server up, queue timeout, replica died mid-answer: 502/503/504).
    def from_replica(r) -> bool:
        return r["server"] != "<NOSRV>" and r["term"].startswith("--")

    by_replica = [r for r in requests if from_replica(r)]
    by_haproxy = [r for r in requests if not from_replica(r)]
    retried = [r for r in requests if r["retries"].lstrip("+") != "0"]
    print("\n| | requests |\n|---|---|")
    print(f"| sent by the clients | {total} |")
    for status in sorted(s for s in sent if s):
        print(f"| status {status} | {sent[status]} |")
    print(f"| connection errors | {sent[0]} |")
    print(f"| logged by haproxy | {len(requests)} |")
    print(f"| answered by haproxy itself (no replica could) | {len(by_haproxy)} |")
    print(f"| retried by haproxy | {len(retried)} "
          f"({sum(r['retries'].startswith('+') for r in retried)} of them redispatched to another replica) |")

    # Who answered, between the events (haproxy logs a request when it is answered). A
    # replica is back from haproxy's own UP line, which the script's polling sees a little later.
    def mark(e) -> float:
        t = float(e["s"])
        if e["name"] == "up":
            t = max([u for u, s, st in states if s == e["who"] and st == "UP" and u <= t], default=t)
        return t

    marks = [(0.0, "start")] + [(mark(e), f"{e['name']} {e['who']}")
                                for e in events if e["name"] in ("kill", "up", "term")] + [(1e9, "")]
    print("\n| from | to | r1 | r2 | r3 |\n|---|---|---|---|---|")
    for (a, name_a), (b, name_b) in zip(marks, marks[1:]):
        window = collections.Counter(r["server"] for r in by_replica if a <= since_t0(r["time"]) < b)
        print(f"| {name_a} ({a:.1f} s) | {name_b or 'end'} | "
              + " | ".join(str(window[s]) for s in ("r1", "r2", "r3")) + " |")

    print("\nEvents (seconds since the load started; haproxy's own state changes marked 'haproxy'):\n")
    timeline = [(float(e["s"]), f"{e['name']:<5} {e['who']:<3} {e['text']}") for e in events]
    end = max((t for t, _ in timeline), default=0.0)  # not the shutdown after the load
    timeline += [(t, f"haproxy {s}: {state}") for t, s, state in states if t <= end]
    for t, text in sorted(timeline):
        print(f"    {t:6.2f} s  {text}")

    if sent[0]:
        failures.append(f"{sent[0]} connection errors")
    if bad := {s: n for s, n in sent.items() if s and s not in ALLOWED}:
        failures.append(f"statuses other than 200/429/503: {bad}")
    if by_haproxy:
        kinds = collections.Counter(f"{r['status']} {r['term']}" for r in by_haproxy)
        failures.append(f"answered by haproxy, not a replica: {dict(kinds)}")
    if total != len(requests):
        failures.append(f"the clients sent {total} requests but haproxy logged {len(requests)}")
    for e in events:
        if e["name"] == "up":
            after = [r for r in by_replica if r["server"] == e["who"] and since_t0(r["time"]) > mark(e)]
            if not after:
                failures.append(f"{e['who']} answered nothing after it came back")
    if not total:
        failures.append("no requests were sent")
    print()
    for f in failures:
        print(f"FAIL: {f}")
    if not failures:
        print(f"PASS: all {total} requests answered by a replica "
              f"({sent[200]} x 200, {sent[429]} x 429, {sent[503]} x 503); none failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
