#!/usr/bin/env bash
# Kiln's http_hello against hyper (examples/baseline_hyper_hello.rs) and axum
# (examples/baseline_axum_hello.rs) on Tokio, same machine, same wrk settings, one after the
# other in one run: /plaintext (64 connections), /plaintext with pipeline depth 16, /json.
# Prints requests/s, p50 and p99 latency, and the ratios.
#
# Usage: scripts/bench-http.sh [SECONDS]   (default 10 per workload)
# Installs wrk with apt-get when it is missing. Both servers use 2 worker threads
# (KILN_BENCH_WORKERS to change); wrk uses 2 threads and 64 connections.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
workers=${KILN_BENCH_WORKERS:-2}
if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
fi
cargo build --release --example http_hello --example baseline_hyper_hello --example baseline_axum_hello >&2

run_server() { # name port -> pid
    case $1 in
        kiln) ./target/release/examples/http_hello --port "$2" >/dev/null & ;;
        hyper) KILN_BENCH_WORKERS=$workers ./target/release/examples/baseline_hyper_hello --port "$2" >/dev/null & ;;
        axum) KILN_BENCH_WORKERS=$workers ./target/release/examples/baseline_axum_hello --port "$2" >/dev/null & ;;
    esac
    echo $!
}

measure() { # port path [lua-args] -> "rps p50 p99"
    local port=$1 path=$2 depth=${3:-}
    local extra=()
    [ -n "$depth" ] && extra=(-s scripts/wrk/pipeline.lua)
    wrk -t2 -c64 -d"${secs}s" --latency "${extra[@]}" "http://127.0.0.1:${port}${path}" ${depth:+-- $depth} \
        | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}'
}

declare -A result
port=18090
for server in kiln hyper axum; do
    pid=$(run_server $server $port)
    sleep 1
    for w in "plaintext:/plaintext:" "pipelined16:/plaintext:16" "json:/json:"; do
        IFS=: read -r name path depth <<<"$w"
        result[$server.$name]=$(measure $port "$path" "$depth")
        echo "$server $name: ${result[$server.$name]}" >&2
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    port=$((port + 1))
done

echo
echo "| workload | kiln req/s | hyper req/s | axum req/s | kiln ÷ hyper | kiln ÷ axum | p50 / p99 kiln · hyper · axum |"
echo "|---|---:|---:|---:|---:|---:|---|"
for name in plaintext pipelined16 json; do
    read -r krps kp50 kp99 <<<"${result[kiln.$name]}"
    read -r hrps hp50 hp99 <<<"${result[hyper.$name]}"
    read -r arps ap50 ap99 <<<"${result[axum.$name]}"
    rh=$(python3 -c "print(f'{$krps / $hrps:.2f}')")
    ra=$(python3 -c "print(f'{$krps / $arps:.2f}')")
    echo "| $name | $krps | $hrps | $arps | **$rh** | **$ra** | $kp50 / $kp99 · $hp50 / $hp99 · $ap50 / $ap99 |"
done
