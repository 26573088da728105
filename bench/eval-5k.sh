#!/usr/bin/env bash
# Benchmark for `glance eval`: a synthetic COCO-shaped set of 5,000 images × 5 references (25,000 reference
# captions, with capitals, punctuation and contractions for the PTB tokenizer) and 5,000 candidates, scored
# with coco-caption's metrics. Prints the wall time of the whole command (process start, loading, tokenising
# 30,000 captions, the metrics). Target: under 30 s. Not a test: nothing here asserts a time.
#
#   bash bench/eval-5k.sh                      # BLEU, ROUGE-L, CIDEr-D
#   METRICS=bleu,meteor,rouge,cider bash bench/eval-5k.sh
set -euo pipefail
cd "$(dirname "$0")/.."
metrics="${METRICS:-bleu,rouge,cider}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "data in $work" >&2

dotnet build -c Release src/SharpGlance.Cli/SharpGlance.Cli.csproj -v q -nologo >/dev/null
glance=src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance

awk -v refs="$work/refs.json" -v res="$work/results.json" 'BEGIN {
  srand(1);
  n = split("a an the man woman dog cat two three red blue large small is are sitting standing on in near next to of with holding riding skateboard surfboard street table plate pizza bus train grass field water beach people person group playing ball frisbee white black young old kitchen room bathroom toilet sink window building city giraffe elephant horse bench umbrella snow", w, " ");
  np = split(", . ! ? ; : -- ( ) \x27s n\x27t ...", p, " ");
  printf "{\"images\": [" > refs;
  for (i = 0; i < 5000; i++) printf "%s{\"id\": %d, \"file_name\": \"COCO_val2014_%012d.jpg\"}", (i ? ", " : ""), 100000 + i, 100000 + i > refs;
  printf "], \"annotations\": [" > refs;
  printf "[" > res;
  a = 0;
  for (i = 0; i < 5000; i++) {
    for (r = 0; r <= 5; r++) {
      len = 6 + int(rand() * 9); s = "";
      for (k = 0; k < len; k++) {
        x = w[1 + int(rand() * n)];
        if (rand() < 0.1) x = toupper(substr(x, 1, 1)) substr(x, 2);
        s = s (k ? " " : "") x;
        if (rand() < 0.08) s = s p[1 + int(rand() * np)];
      }
      if (rand() < 0.6) s = s ".";
      if (r < 5) printf "%s{\"image_id\": %d, \"id\": %d, \"caption\": \"%s\"}", (a++ ? ", " : ""), 100000 + i, a, s > refs;
      else printf "%s{\"image_id\": %d, \"caption\": \"%s\"}", (i ? ", " : ""), 100000 + i, s > res;
    }
  }
  printf "]}\n" > refs; printf "]\n" > res;
}'

echo "glance eval: 5,000 images, 25,000 references, metrics $metrics" >&2
start=$(date +%s.%N)
"$glance" eval --refs "$work/refs.json" --results "$work/results.json" --metrics "$metrics" < /dev/null
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "wall time: %.1f s (target < 30 s)\n", e - s }'
