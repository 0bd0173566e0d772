#!/usr/bin/env bash
# Load benchmark of the HTTP service (not a test): 64 KiB putObject and getObject requests to
# POST /v1/actions from wrk on loopback, at concurrency 1, 16 and 64, against `s3-connector
# serve` on its embedded store; then the same workload straight through the library (the
# ceiling, crates/server/examples/library_load.rs). Prints one line per run; raw wrk output
# goes to $OUT (default /tmp/http-load).
#
# Needs: wrk (apt install wrk), a release build. Usage: bash bench/http-load.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
OUT=${OUT:-/tmp/http-load}
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is needed: apt install wrk" >&2; exit 1; }
cargo build --release -p s3-connector-cli -p s3-connector-server --example library_load >/dev/null

DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=bench-token-0123456789abcdef  # the service refuses tokens under 16 characters
(cd "$DATA" && S3_CONNECTOR_TOKEN=$TOKEN S3_CONNECTOR_LOG=warn exec "$OLDPWD/target/release/s3-connector" serve --listen "127.0.0.1:$PORT") 2>"$OUT/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/actions" \
  -d '{"action":"createBucket","bucket":"bench"}' >/dev/null

cat >"$OUT/put.lua" <<LUA
local body = string.rep("x", 65536)
local n = 0
request = function()
  n = n + 1
  local headers = {}
  headers["Authorization"] = "Bearer $TOKEN"
  headers["Content-Type"] = "application/octet-stream"
  headers["S3-Connector-Request"] = '{"action":"putObject","bucket":"bench","key":"k/' .. (n % 64) .. '"}'
  return wrk.format("POST", "/v1/actions", headers, body)
end
LUA
cat >"$OUT/get.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local headers = {}
  headers["Authorization"] = "Bearer $TOKEN"
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/v1/actions", headers, '{"action":"getObject","bucket":"bench","key":"k/' .. (n % 64) .. '"}')
end
LUA

# wrk's "Latency Distribution" in ms, whatever unit it printed.
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0; else if (v ~ /s$/) printf "%.2f", v*1000; else print v }'; }

for c in 1 16 64; do
  for phase in put get; do
    # wrk shares the machine with the service: its own CPU time is reported beside the figures.
    /usr/bin/time -f "%U %S" -o "$OUT/cpu-$phase-$c.txt" \
      wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${SECS}s" --latency -s "$OUT/$phase.lua" "http://127.0.0.1:$PORT" >"$OUT/wrk-$phase-$c.txt"
    wrk_cpu=$(awk '{printf "%.0f", ($1+$2)*100/'"$SECS"'}' "$OUT/cpu-$phase-$c.txt")
    rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$phase-$c.txt")
    p50=$(ms "$(awk '$1=="50%" {print $2}' "$OUT/wrk-$phase-$c.txt")")
    p99=$(ms "$(awk '$1=="99%" {print $2}' "$OUT/wrk-$phase-$c.txt")")
    errors=$(grep -c "Non-2xx\|Socket errors" "$OUT/wrk-$phase-$c.txt" || true)
    echo "service $phase c=$c rps=$rps p50_ms=$p50 p99_ms=$p99 error_lines=$errors wrk_cpu=${wrk_cpu}%"
  done
done
echo "service peak RSS: $(awk '/VmHWM/ {print int($2/1024)}' /proc/$PID/status) MiB"
for c in 1 16 64; do
  ./target/release/examples/library_load "$c" "$SECS" | sed "s/^/library /"
done
