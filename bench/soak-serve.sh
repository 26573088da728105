#!/usr/bin/env bash
# Soak benchmark of `glance serve` (not a test): REQUESTS requests (default 10,000) through one server, sent by
# one curl process per 1,000 with CONCURRENCY transfers in flight (so the server batches them), mixing the
# routes and settings a real client uses, one fifth each: /v1/captions multipart and raw body (greedy),
# /v1/chat/completions with the image as a data: URI (greedy), a second glance (greedy), and two rounds with
# 2 beams; TOKENS (2) new tokens at most: every request still runs the tower, the connector, a prefill and decoding. The server runs with an API key
# (from GLANCE_API_KEY, as a deployment would) and the per-client limit off (every request comes from one
# address). After every 1,000 requests it prints the answers by status, the server's RSS (VmRSS), its peak
# (VmHWM) and glance_live_tensors from /metrics. A leak shows as RSS or live tensors that keep growing.
#   bash bench/soak-serve.sh                            # 10,000 requests, 16 in flight, the embedded model
#   REQUESTS=2000 CONCURRENCY=8 bash bench/soak-serve.sh
# Needs: a Release build (dotnet build -c Release; GLANCE=path picks another glance), curl. NICE=10 (default)
# runs the server nice'd.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-10000}
CONCURRENCY=${CONCURRENCY:-16}
EVERY=${EVERY:-1000}
PORT=${PORT:-18081}
NICE=${NICE:-10}
SERVE_ARGS=${SERVE_ARGS:-}
TOKENS=${TOKENS:-2}   # new tokens per caption: few, so that 10,000 requests fit in an hour of a shared machine
glance=${GLANCE:-$PWD/src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance}
[ -x "$glance" ] || { echo "build first: dotnet build -c Release" >&2; exit 1; }
out=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$out"' EXIT
key=soak-$RANDOM$RANDOM
images=(samples/scene*.png)
api=http://127.0.0.1:$PORT
greedy="beams=1&max_new_tokens=$TOKENS"

echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
GLANCE_API_KEY=$key nice -n "$NICE" "$glance" serve --port "$PORT" --client-rate 0 $SERVE_ARGS > "$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.2
done

# One chat request body per image: the image as a base64 data: URI, greedy (the settings of kinds 0 and 1,
# so the three share batches).
for i in "${!images[@]}"; do
  printf '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}}]}],"max_tokens":%d,"beams":1}' \
    "$(base64 -w0 "${images[$i]}")" "$TOKENS" > "$out/chat-$i.json"
done

# A curl config of EVERY transfers, the n-th request's kind chosen by n (the same mix in every block).
block() {
  local first=$1 n kind image
  for ((n = first; n < first + EVERY; n++)); do
    image=${images[$((n % ${#images[@]}))]}
    kind=$((n % 5))
    echo "next"
    echo "header = \"Authorization: Bearer $key\""
    echo "output = \"/dev/null\""
    echo "write-out = \"%{http_code}\\n\""
    case $kind in
      0) echo "url = \"$api/v1/captions?$greedy\""; echo "form = \"image=@$image\"" ;;
      1) echo "url = \"$api/v1/captions?$greedy\""; echo "data-binary = \"@$image\""; echo "header = \"Content-Type: image/png\"" ;;
      2) echo "url = \"$api/v1/chat/completions\""; echo "data-binary = \"@$out/chat-$((n % ${#images[@]})).json\""; echo "header = \"Content-Type: application/json\"" ;;
      3) echo "url = \"$api/v1/captions?refine=true&$greedy\""; echo "form = \"image=@$image\"" ;;
      4) echo "url = \"$api/v1/captions?rounds=2&beams=2&max_new_tokens=$TOKENS\""; echo "form = \"image=@$image\"" ;;
    esac
  done | tail -n +2   # the first transfer needs no "next"
}

metric() { curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"[{ ]" || $1 == m { print $2; exit }'; }
memory() { awk '/^VmRSS/ { rss = $2 } /^VmHWM/ { hwm = $2 } END { printf "%d %d", rss / 1024, hwm / 1024 }' "/proc/$server/status"; }

read -r rss0 _ <<< "$(memory)"
echo "idle after warm-up: RSS $rss0 MiB, live tensors $(metric glance_live_tensors)"
printf '%8s %8s %6s %6s %9s %9s %13s\n' requests seconds 200s other "RSS MiB" "peak MiB" "live tensors"
began=$(date +%s)
for ((done = 0; done < REQUESTS; done += EVERY)); do
  block "$done" > "$out/block.cfg"
  curl -s --no-progress-meter --parallel --parallel-max "$CONCURRENCY" --max-time 7200 -K "$out/block.cfg" > "$out/codes.txt" || true
  ok=$(grep -c '^200$' "$out/codes.txt" || true)
  other=$(( $(wc -l < "$out/codes.txt") - ok ))
  [ "$other" -eq 0 ] || grep -v '^200$' "$out/codes.txt" | sort | uniq -c | sed 's/^/    non-200: /' >&2
  read -r rss hwm <<< "$(memory)"
  printf '%8d %8d %6d %6d %9d %9d %13s\n' $((done + EVERY)) $(( $(date +%s) - began )) "$ok" "$other" "$rss" "$hwm" "$(metric glance_live_tensors)"
done
echo "batched passes: $(metric glance_batches_total), images: $(metric glance_batch_size_sum)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -qi "exception" "$out/serve.log"; then echo "the server logged exceptions:"; grep -i exception "$out/serve.log" | head; fi
