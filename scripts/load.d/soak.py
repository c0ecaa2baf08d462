"""The soak's sampler: every 10 s reads the service's RSS and open file descriptors from
/proc, its queue depth and the p99 of the last interval's requests from /metrics, into a
CSV; at the end draws the four series as an SVG and checks them.

Usage (from scripts/load): soak.py PID ADDR MINUTES CSV SVG
"""
import sys, time, urllib.request

pid, addr, minutes, csv_path, svg_path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]

def rss_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

def fds():
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))

def metrics():
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
    buckets, depth = {}, 0
    for line in text.splitlines():
        if line.startswith('jobs_queue_depth{state="available"}'):
            depth = int(float(line.split()[-1]))
        if line.startswith("http_request_duration_seconds_bucket") and 'route="/books/{id}"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets[le] = buckets.get(le, 0) + int(float(line.split()[-1]))
    return depth, buckets

def p99(before, after):
    """The upper edge of the bucket holding the 99th percentile of the interval's requests."""
    edges = sorted((float("inf") if le == "+Inf" else float(le), le) for le in after)
    total = after.get("+Inf", 0) - before.get("+Inf", 0)
    if total <= 0:
        return 0.0
    for edge, le in edges:
        if after[le] - before.get(le, 0) >= 0.99 * total:
            return edge * 1000
    return float("inf")

rows = []
_, last = metrics()
start = time.time()
with open(csv_path, "w") as out:
    out.write("seconds,rss_mb,open_fds,queue_available,p99_ms\n")
    while time.time() - start < minutes * 60:
        time.sleep(10)
        depth, now = metrics()
        row = (round(time.time() - start), round(rss_mb(), 1), fds(), depth, p99(last, now))
        last = now
        rows.append(row)
        out.write(",".join(str(v) for v in row) + "\n")
        out.flush()
        print("soak: %4d s  rss %7.1f MB  fds %4d  queue %6d  p99 %7.2f ms" % row, flush=True)

# The chart: each series in its own band, scaled from zero to its maximum (so a flat line
# looks flat), with its range written beside it.
w, band = 720, 90
names = ["rss_mb", "open_fds", "queue_available", "p99_ms"]
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 200}" height="{band * 4 + 40}" font-family="sans-serif" font-size="12">']
t_max = max(r[0] for r in rows) or 1
for i, name in enumerate(names):
    values = [r[i + 1] for r in rows]
    lo, hi = min(values), max(values)
    span = hi or 1
    top = 20 + i * band
    pts = " ".join(f"{20 + r[0] / t_max * w:.1f},{top + band - 15 - v / span * (band - 30):.1f}" for r, v in zip(rows, values))
    svg.append(f'<text x="{w + 30}" y="{top + band / 2}">{name}: {lo:g} … {hi:g}</text>')
    svg.append(f'<polyline fill="none" stroke="#2a6" stroke-width="2" points="{pts}"/>')
    svg.append(f'<line x1="20" x2="{20 + w}" y1="{top + band - 10}" y2="{top + band - 10}" stroke="#ccc"/>')
svg.append(f'<text x="20" y="{band * 4 + 35}">time → {t_max} s</text></svg>')
open(svg_path, "w").write("\n".join(svg))

# The checks: memory flat over the second half, no descriptor growth.
half = rows[len(rows) // 2:]
problems = []
if len(half) >= 2 and half[-1][1] > half[0][1] * 1.10 + 5:
    problems.append(f"RSS grew over the second half: {half[0][1]} MB -> {half[-1][1]} MB")
if rows[-1][2] > rows[0][2] + 5:
    problems.append(f"open file descriptors grew: {rows[0][2]} -> {rows[-1][2]}")
for p in problems:
    print("soak: FAILED:", p)
sys.exit(1 if problems else 0)
