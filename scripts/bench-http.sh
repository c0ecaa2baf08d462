#!/usr/bin/env bash
# Kiln's http_hello against hyper (examples/baseline_hyper_hello.rs) and axum
# (examples/baseline_axum_hello.rs) on Tokio, same machine, same wrk settings, one after the
# other in one run: /plaintext (64 connections), /plaintext with pipeline depth 16, /json.
# Kiln runs twice: with its router (met against axum's router) and as one async fn with no
# router (`--service`, met against hyper's service_fn). Prints requests/s, p50 and p99
# latency, and the ratios.
#
# PER_CORE=1 adds Kiln's per-core model (`http_hello --per-core`) as a fifth server.
# Usage: scripts/bench-http.sh [SECONDS]   (default 10 per workload; ROUNDS=3 rounds, each
# running every server in turn, and the table reports medians over the rounds)
# Installs wrk with apt-get when it is missing. The machine's CPUs are split in two halves
# with taskset: the server gets the first half (and as many worker threads:
# KILN_BENCH_WORKERS to change), wrk the second half (as many threads) with 64 connections.
# Without the split, wrk and the server fight over the same cores and the ratios are noise.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cpus=$(nproc)
half=$(( cpus > 1 ? cpus / 2 : 1 ))
server_cpus="0-$((half - 1))"
client_cpus="$(( cpus > 1 ? half : 0 ))-$((cpus - 1))"
workers=${KILN_BENCH_WORKERS:-$half}
wrk_threads=$(( cpus - half > 0 ? cpus - half : 1 ))
if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
fi
cargo build --release --example http_hello --example baseline_hyper_hello --example baseline_axum_hello >&2

run_server() { # name port -> pid
    case $1 in
        kiln-percore) KILN_BENCH_WORKERS=$workers taskset -c "$server_cpus" ./target/release/examples/http_hello --per-core --port "$2" >/dev/null & ;;
        kiln) KILN_BENCH_WORKERS=$workers taskset -c "$server_cpus" ./target/release/examples/http_hello --port "$2" >/dev/null & ;;
        kiln-svc) KILN_BENCH_WORKERS=$workers taskset -c "$server_cpus" ./target/release/examples/http_hello --service --port "$2" >/dev/null & ;;
        hyper) KILN_BENCH_WORKERS=$workers taskset -c "$server_cpus" ./target/release/examples/baseline_hyper_hello --port "$2" >/dev/null & ;;
        axum) KILN_BENCH_WORKERS=$workers taskset -c "$server_cpus" ./target/release/examples/baseline_axum_hello --port "$2" >/dev/null & ;;
    esac
    echo $!
}

cpu_ticks() { # pid -> "user system" clock ticks the server process has used so far
    awk '{print $14, $15}' "/proc/$1/stat"
}

measure() { # pid port path [lua-args] -> "rps p50 p99 user_ticks sys_ticks wall_ns"
    local pid=$1 port=$2 path=$3 depth=${4:-}
    local extra=()
    [ -n "$depth" ] && extra=(-s scripts/wrk/pipeline.lua)
    local before after t0 t1 out
    before=$(cpu_ticks "$pid"); t0=$(date +%s%N)
    out=$(taskset -c "$client_cpus" wrk -t"$wrk_threads" -c64 -d"${secs}s" --latency "${extra[@]}" "http://127.0.0.1:${port}${path}" ${depth:+-- $depth} \
        | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}')
    after=$(cpu_ticks "$pid"); t1=$(date +%s%N)
    read -r u0 s0 <<<"$before"; read -r u1 s1 <<<"$after"
    echo "$out $((u1 - u0)) $((s1 - s0)) $((t1 - t0))"
}

rounds=${ROUNDS:-3}
servers=(kiln kiln-svc hyper axum)
[ -n "${PER_CORE:-}" ] && servers+=(kiln-percore)
echo "server: CPUs $server_cpus, $workers worker thread(s); wrk: CPUs $client_cpus, $wrk_threads thread(s), 64 connections, ${secs} s per workload, $rounds rounds" >&2
results=$(mktemp)
port=18090
for round in $(seq 1 "$rounds"); do
    # Every other round runs the servers in reverse order, so none always follows another
    # (the machine's speed drifts within a round).
    order=("${servers[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=(); for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[$i]}"); done
    fi
    for server in "${order[@]}"; do
        pid=$(run_server $server $port)
        sleep 1
        for w in "plaintext:/plaintext:" "pipelined16:/plaintext:16" "json:/json:"; do
            IFS=: read -r name path depth <<<"$w"
            line="$round $server $name $(measure "$pid" $port "$path" "$depth")"
            echo "$line" >&2
            echo "$line" >>"$results"
        done
        kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
        port=$((port + 1))
    done
done

# Median requests/s per server and workload over the rounds (latencies: from the round with
# the median throughput), and the ratios of the medians.
python3 - "$results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def per_round(name, kiln, base):
    """kiln ÷ base for each round that ran both."""
    return [float(kr[3]) / float(br[3]) for kr in rows if kr[1] == kiln and kr[2] == name
            for br in rows if br[1] == base and br[2] == name and br[0] == kr[0]]
def med(server, name):
    """(req/s, p50, p99) of the round with the median throughput."""
    runs = sorted((float(r[3]), r[4], r[5]) for r in rows if r[1] == server and r[2] == name)
    return runs[(len(runs) - 1) // 2]
# Like for like: Kiln's bare service (one async fn) against hyper's service_fn, Kiln's router
# against axum's; Kiln's router against hyper is shown too.
pairs = (("kiln-svc", "hyper"), ("kiln", "axum"), ("kiln", "hyper"))
label = {"kiln-svc": "kiln service", "kiln": "kiln router"}
print()
print("| workload | kiln service req/s | kiln router req/s | hyper req/s | axum req/s | **service ÷ hyper** | **router ÷ axum** | router ÷ hyper | service ÷ hyper per round | p50 / p99 service · router · hyper · axum |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
for name in ("plaintext", "pipelined16", "json"):
    (s_, sp50, sp99) = med("kiln-svc", name)
    (k, kp50, kp99) = med("kiln", name)
    (h, hp50, hp99) = med("hyper", name)
    (a, ap50, ap99) = med("axum", name)
    per = " / ".join(f"{r:.2f}" for r in per_round(name, "kiln-svc", "hyper"))
    print(f"| {name} | {s_:.0f} | {k:.0f} | {h:.0f} | {a:.0f} | **{s_ / h:.2f}** | **{k / a:.2f}** | {k / h:.2f} | {per} | "
          f"{sp50} / {sp99} · {kp50} / {kp99} · {hp50} / {hp99} · {ap50} / {ap99} |")
# A chart of the throughput ratios (bar: ratio of medians; line: range over rounds).
bars = []
for name in ("plaintext", "pipelined16", "json"):
    for kiln, base in pairs:
        (k, _, _) = med(kiln, name)
        (b, _, _) = med(base, name)
        per = per_round(name, kiln, base)
        bars.append((f"{name}: {label[kiln]} ÷ {base}", k / b, min(per), max(per)))
# The chart is drawn by scripts/bench-report's `svg` (one chart drawer for every bench).
import importlib.machinery, pathlib
report = importlib.machinery.SourceFileLoader("bench_report", "scripts/bench-report").load_module()
report.svg(bars, pathlib.Path("docs/bench/http-wrk-ratios.svg"),
           "Requests/s, Kiln ÷ baseline (wrk, medians over rounds; line: range). Right of 1.00: Kiln is faster",
           lower_is_better=False)
print("\n(chart written to docs/bench/http-wrk-ratios.svg)", file=sys.stderr)
# Where each server's CPU went (from /proc/PID/stat around each wrk run, medians over rounds): how
# busy its core was, and user-space vs kernel time per request. The kernel part (the TCP
# stack, syscalls) is much the same for every stack, so it bounds what any server can gain:
# even with no user-space cost at all, a server is at most (baseline's CPU per request) ÷
# (its own kernel CPU per request) times faster than the baseline.
import os
hz = os.sysconf("SC_CLK_TCK")
servers = list(dict.fromkeys(r[1] for r in rows))
def cpu(server, name):
    """Each measure's median over the rounds (rounds differ: the machine's speed drifts)."""
    per_round = []
    for r in rows:
        if r[1] == server and r[2] == name:
            rps, u, s, wall = float(r[3]), int(r[6]), int(r[7]), int(r[8]) / 1e9
            reqs = rps * wall
            per_round.append({"busy": (u + s) / hz / wall, "user": u / max(u + s, 1),
                              "us_user": u / hz / reqs * 1e6, "us_sys": s / hz / reqs * 1e6})
    return {k: sorted(d[k] for d in per_round)[(len(per_round) - 1) // 2] for k in per_round[0]}
print()
print("| workload | server | server CPU busy | user share | µs user / request | µs kernel / request |")
print("|---|---|---:|---:|---:|---:|")
for name in ("plaintext", "pipelined16", "json"):
    for server in servers:
        c = cpu(server, name)
        print(f"| {name} | {label.get(server, server)} | {c['busy'] * 100:.0f} % | {c['user'] * 100:.0f} % | {c['us_user']:.2f} | {c['us_sys']:.2f} |")
print()
for name in ("plaintext", "pipelined16", "json"):
    a, k = cpu("axum", name), cpu("kiln", name)
    h, v = cpu("hyper", name), cpu("kiln-svc", name)
    print(f"- {name}: with zero user-space cost, Kiln's router could be at most "
          f"{(a['us_user'] + a['us_sys']) / k['us_sys']:.2f}× axum, its service at most "
          f"{(h['us_user'] + h['us_sys']) / v['us_sys']:.2f}× hyper (if the server's core is the bottleneck)")
if any(r[1] == "kiln-percore" for r in rows):
    print()
    print("| workload | kiln per-core req/s | ÷ kiln work-stealing | ÷ hyper |")
    print("|---|---:|---:|---:|")
    for name in ("plaintext", "pipelined16", "json"):
        (p, _, _) = med("kiln-percore", name)
        (k, _, _) = med("kiln", name)
        (h, _, _) = med("hyper", name)
        print(f"| {name} | {p:.0f} | {p / k:.2f} | {p / h:.2f} |")
    print()
PY
rm -f "$results"
