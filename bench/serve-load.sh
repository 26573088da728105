#!/usr/bin/env bash
# Load benchmark of `glance serve` (not a test): CLIENTS concurrent clients post the shipped sample scenes
# to /v1/captions for SECONDS seconds against the embedded default model, on a loopback port.
# Reports: answers by status (503s are the queue's back-pressure, by design; anything else is an error),
# p50/p95/p99 latency of the 200s, throughput, the server's RSS every 5 s (peak after warm-up should stay
# flat), and `glance caption` on the same images in one process for comparison.
#   bash bench/serve-load.sh                      # 32 clients, 60 s, the paper's 3 beams, first glance
#   CLIENTS=8 SECONDS_=20 QUERY='refine=true' bash bench/serve-load.sh
# Needs: a Release build (dotnet build -c Release), curl. Server options: SERVE_ARGS='--max-batch 8 --queue 64'.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-32}
DURATION=${SECONDS_:-60}
QUERY=${QUERY:-}
PORT=${PORT:-18080}
SERVE_ARGS=${SERVE_ARGS:-}
glance=src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance
[ -x "$glance" ] || { echo "build first: dotnet build -c Release" >&2; exit 1; }
out=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$out"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
# --client-rate 0: the 32 clients share one address, and this measures the queue, not the per-client limit.
"$glance" serve --port "$PORT" --client-rate 0 $SERVE_ARGS > "$out/serve.log" 2>&1 &
server=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null; do
  kill -0 "$server" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.2
done
images=(samples/scene*.png)

rss() { awk '/^VmRSS|^VmHWM/ { printf "%s %d MiB  ", $1, $2 / 1024 }' "/proc/$server/status"; echo; }
began=$(date +%s)
( while kill -0 "$server" 2>/dev/null; do echo "t+$(( $(date +%s) - began ))s $(rss)"; sleep 5; done ) > "$out/rss.log" &
sampler=$!

client() {
  local i=$1 end=$2 n=0
  while (( $(date +%s) < end )); do
    local image=${images[$(( (i + n) % ${#images[@]} ))]}
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -F "image=@$image" "http://127.0.0.1:$PORT/v1/captions?$QUERY" >> "$out/client-$i.log" || echo "000 0" >> "$out/client-$i.log"
    n=$((n + 1))
  done
}
end=$(( $(date +%s) + DURATION ))
for i in $(seq 1 "$CLIENTS"); do client "$i" "$end" & done
wait $(jobs -p | grep -v "^$server$" | grep -v "^$sampler$") 2>/dev/null || true
kill "$sampler" 2>/dev/null || true

cat "$out"/client-*.log > "$out/all.log"
echo "== $CLIENTS clients for $DURATION s, query '${QUERY}', server args '${SERVE_ARGS}'"
echo "answers by status:"; awk '{ print "  " $1 }' "$out/all.log" | sort | uniq -c
awk '$1 == 200 { print $2 }' "$out/all.log" | sort -n > "$out/ok.txt"
n=$(wc -l < "$out/ok.txt")
if (( n > 0 )); then
  pct() { sed -n "$(( ($1 * n + 99) / 100 ))p" "$out/ok.txt"; }
  echo "latency of the 200s (s): p50 $(pct 50)  p95 $(pct 95)  p99 $(pct 99)  max $(tail -1 "$out/ok.txt")"
  echo "throughput: $(awk -v n="$n" -v d="$DURATION" 'BEGIN { printf "%.2f", n / d }') captions/s"
fi
echo "server memory every 5 s:"; sed 's/^/  /' "$out/rss.log"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^glance_(batches_total|batch_size_(sum|count))' | sed 's/^/  /'

# The same work in one process: `glance caption` over as many images as the server captioned in 10 s.
count=$(( n * 10 / DURATION )); (( count >= ${#images[@]} )) || count=${#images[@]}
list=(); for ((k = 0; k < count; k++)); do list+=("${images[$((k % ${#images[@]}))]}"); done
flags=(); [[ "$QUERY" == *refine=true* ]] && flags+=(--refine)
start=$(date +%s.%N)
"$glance" caption "${flags[@]}" "${list[@]}" > /dev/null 2>&1
echo "glance caption, one process, $count images: $(awk -v c="$count" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f captions/s", c / (e - s) }')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
