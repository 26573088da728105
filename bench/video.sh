#!/usr/bin/env bash
# Throughput of `glance video` (not a test): a DURATION-second 1280×720 H.264 video of ffmpeg's testsrc2 at
# 30 fps, sampled at one frame a second (the default), captioned with the embedded default model (or MODEL=DIR,
# a captioner folder: a full-size one gives the full-size figure). Prints the load average, ffmpeg's decoding
# alone at the same sampling, and glance video's wall time and frames per second (model loading included,
# and without it from the progress log).
#   bash bench/video.sh                       # 120 s of video, 3 beams, batch 8
#   DURATION=600 ARGS='--beams 1 --batch 16' MODEL=runs/stage1 bash bench/video.sh
# Needs: a Release build (dotnet build -c Release), ffmpeg (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-120}
ARGS=${ARGS:-}
glance=src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance
[ -x "$glance" ] || { echo "build first: dotnet build -c Release" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ffmpeg -v error -nostdin -f lavfi -i "testsrc2=s=1280x720:r=30:d=$DURATION" -c:v libx264 -pix_fmt yuv420p "$work/bench.mp4"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
ffmpeg -v error -nostdin -i "$work/bench.mp4" -vf fps=1:eof_action=pass -f rawvideo -pix_fmt rgb24 - > /dev/null
decode=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "ffmpeg decoding alone, 1 frame/s: ${decode} s for ${DURATION} frames"
model=()
[ -n "${MODEL:-}" ] && model=(--model "$MODEL")
start=$(date +%s.%N)
# shellcheck disable=SC2086
CI=1 "$glance" video "${model[@]}" $ARGS --out "$work/captions.json" "$work/bench.mp4" 2> "$work/log"
wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
frames=$(grep -c '"caption"' "$work/captions.json")
echo "glance video: $frames frames in ${wall} s = $(awk -v n="$frames" -v t="$wall" 'BEGIN { printf "%.2f", n / t }') frames/s (model loading included)"
# The progress log's first line comes after the first batch: the rate from there on leaves loading out.
first=$(grep -m1 -o '^\[[0-9:]*\] video: [0-9]*' "$work/log" || true)
last=$(grep -o '^\[[0-9:]*\] video: [0-9]*' "$work/log" | tail -1 || true)
if [ -n "$first" ] && [ "$first" != "$last" ]; then
  secs() { IFS=: read -r h m s <<< "$(echo "$1" | sed 's/^\[\([0-9:]*\)\].*/\1/')"; echo $((10#$h * 3600 + 10#$m * 60 + 10#$s)); }
  n() { echo "$1" | sed 's/.*video: //'; }
  dt=$(( $(secs "$last") - $(secs "$first") ))
  [ "$dt" -gt 0 ] && echo "after the first batch: $(( $(n "$last") - $(n "$first") )) frames in ${dt} s = $(awk -v n="$(( $(n "$last") - $(n "$first") ))" -v t="$dt" 'BEGIN { printf "%.2f", n / t }') frames/s"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
