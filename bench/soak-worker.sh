#!/usr/bin/env bash
# Soak benchmark of `glance worker` (not a test): MESSAGES images (default 5,000) through a RabbitMQ broker of
# its own (Debian's rabbitmq-server on free loopback ports, its data in a temp folder, removed after), one
# worker captioning them in batches of BATCH. The broker URI reaches the worker through GLANCE_BROKER_FILE,
# as a deployment's secret would. The worker logs its RSS and live tensor count every EVERY (1,000) images; this
# prints those lines with the time and the RSS read from /proc, then collects the job to check that every
# image has exactly one result. A leak shows as RSS or live tensors that keep growing.
#   bash bench/soak-worker.sh                    # 5,000 messages, batches of 8, greedy, 2 new tokens
#   MESSAGES=2000 BATCH=4 bash bench/soak-worker.sh
# Needs: a Release build (dotnet build -c Release; GLANCE=path picks another glance), rabbitmq-server (bash scripts/setup.sh --test), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-5000}
BATCH=${BATCH:-8}
TOKENS=${TOKENS:-2}
NICE=${NICE:-10}
EVERY=${EVERY:-1000}
glance=${GLANCE:-$PWD/src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance}
rabbit=/usr/lib/rabbitmq/bin/rabbitmq-server
[ -x "$glance" ] || { echo "build first: dotnet build -c Release" >&2; exit 1; }
[ -x "$rabbit" ] || { echo "needs rabbitmq-server: bash scripts/setup.sh --test" >&2; exit 1; }
out=$(mktemp -d)
broker= worker= epmd=
epmd_before=$(pgrep -x epmd || true)
cleanup() {
  [ -n "$worker" ] && kill "$worker" 2>/dev/null
  if [ -n "$broker" ]; then
    kill "$(cat "$out/rabbit/broker.pid" 2>/dev/null || echo "$broker")" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
  fi
  # epmd (Erlang's name server) outlives the node: stop it only if this script started it.
  [ -n "$epmd" ] && kill "$epmd" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port) dist=$(free_port)
mkdir -p "$out/rabbit"
echo "[]." > "$out/rabbit/enabled_plugins"
HOME=$out/rabbit RABBITMQ_NODENAME=glance-soak-$port@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$dist RABBITMQ_MNESIA_BASE=$out/rabbit/mnesia \
  RABBITMQ_LOG_BASE=$out/rabbit/log RABBITMQ_LOGS=$out/rabbit/log/broker.log RABBITMQ_CONFIG_FILE=$out/rabbit/rabbitmq \
  RABBITMQ_ENABLED_PLUGINS_FILE=$out/rabbit/enabled_plugins RABBITMQ_PID_FILE=$out/rabbit/broker.pid \
  "$rabbit" > "$out/rabbit.out" 2>&1 &
broker=$!
for _ in $(seq 1 600); do
  (exec 3<> "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$broker" 2>/dev/null || { cat "$out/rabbit.out" >&2; exit 1; }
  sleep 0.2
done
[ -z "$epmd_before" ] && epmd=$(pgrep -x -u "$(id -u)" epmd || true)
echo "amqp://guest:guest@127.0.0.1:$port/" > "$out/broker-uri"
export GLANCE_BROKER_FILE=$out/broker-uri

# MESSAGES images: the shipped scenes, copied under distinct names (each message is one image's bytes).
images=(samples/scene*.png)
mkdir -p "$out/images"
for ((i = 0; i < MESSAGES; i++)); do cp "${images[$((i % ${#images[@]}))]}" "$out/images/$(printf '%05d' "$i").png"; done
"$glance" queue submit --job soak --inline "$out/images" 2> /dev/null

echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
began=$(date +%s)
nice -n "$NICE" "$glance" worker --batch "$BATCH" --beams 1 --max-new-tokens "$TOKENS" --stats-every "$EVERY" 2> "$out/worker.log" &
worker=$!
seen=0
deadline=$(( began + ${TIMEOUT:-7200} ))
while (( seen < MESSAGES / EVERY )); do
  kill -0 "$worker" 2>/dev/null || { echo "the worker exited:" >&2; cat "$out/worker.log" >&2; exit 1; }
  (( $(date +%s) < deadline )) || { echo "timed out" >&2; exit 1; }
  lines=$(grep -c "images captioned" "$out/worker.log" || true)
  while (( seen < lines )); do
    seen=$((seen + 1))
    rss=$(awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$worker/status")
    echo "t+$(( $(date +%s) - began ))s  $(grep "images captioned" "$out/worker.log" | sed -n "${seen}p")  (/proc VmRSS $rss MiB)"
  done
  sleep 1
done
"$glance" queue collect --job soak --out "$out/results.json" --timeout 60 2> /dev/null | tail -1
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -v "images captioned\|consuming" "$out/worker.log" | head -5 || true
