#!/usr/bin/env bash
# A/B benchmark (not a test) of two s3-connector builds on downloads, the workloads where
# bench/compare.sh's five rounds left the "ratio to before" closest to its noise: one 1 GiB
# get-object and 1000 x 64 KiB getObject through `exec --batch --jobs 32`, the two builds
# alternating, ROUNDS times each, against one serve-s3 of the new build on 127.0.0.1.
#
# Usage: BASELINE_BIN=/path/to/older/s3-connector [ROUNDS=15] bench/ab-downloads.sh
# Output: CSV rows (workload,build,round,seconds) on stdout, medians on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BASELINE_BIN:?set BASELINE_BIN to the earlier build}"
ROUNDS=${ROUNDS:-15}
cargo build --release --quiet
NEW=$PWD/target/release/s3-connector OLD=$BASELINE_BIN
W=$(mktemp -d /tmp/s3c-ab.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=BENCHACCESSKEY AWS_SECRET_ACCESS_KEY=benchsecretkey0123456789 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
EP=http://127.0.0.1:$PORT
"$NEW" serve-s3 --data "$W/store" --listen "127.0.0.1:$PORT" > /dev/null 2> "$W/server.log" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true; rm -rf "$W"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
"$NEW" --endpoint "$EP" create-bucket abtest > /dev/null
head -c $((1024 * 1024 * 1024)) /dev/urandom > "$W/big"
"$NEW" --endpoint "$EP" --no-progress put-object abtest big "$W/big" > /dev/null
mkdir "$W/small" "$W/dl"
: > "$W/put.jsonl"; : > "$W/get.jsonl"
for i in $(seq 1000); do
  head -c 65536 /dev/urandom > "$W/small/$i"
  printf '{"action":"putObject","bucket":"abtest","key":"s/%s","file":"%s"}\n' "$i" "$W/small/$i" >> "$W/put.jsonl"
  printf '{"action":"getObject","bucket":"abtest","key":"s/%s","file":"%s"}\n' "$i" "$W/dl/$i" >> "$W/get.jsonl"
done
"$NEW" --endpoint "$EP" --no-progress exec --batch --jobs 32 "$W/put.jsonl" > /dev/null
echo "workload,build,round,seconds"
for round in $(seq "$ROUNDS"); do
  for build in new old; do
    bin=$NEW; [ "$build" = old ] && bin=$OLD
    rm -f "$W/out"
    t=$( { /usr/bin/time -f %e "$bin" --endpoint "$EP" --no-progress get-object abtest big "$W/out" > /dev/null; } 2>&1 | tail -1)
    cmp -s "$W/big" "$W/out" || { echo "get-1GiB by $build differs" >&2; exit 1; }
    echo "get-1GiB,$build,$round,$t"
    rm -rf "${W:?}/dl/"*
    t=$( { /usr/bin/time -f %e "$bin" --endpoint "$EP" --no-progress exec --batch --jobs 32 "$W/get.jsonl" > /dev/null; } 2>&1 | tail -1)
    echo "small-get,$build,$round,$t"
  done
done | tee "$W/ab.csv"
python3 - "$W/ab.csv" >&2 <<'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1]))]
for w in sorted({r[0] for r in rows}):
    med = {b: statistics.median(float(r[3]) for r in rows if r[0] == w and r[1] == b) for b in ("new", "old")}
    print(f"{w}: new {med['new']:.2f} s, old {med['old']:.2f} s, new/old time {med['new'] / med['old']:.2f}")
PY
