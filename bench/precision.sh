#!/usr/bin/env bash
# bf16 against fp32 (not a test). Part 1: the embedded model's greedy captions of a fresh synthetic-world test
# split (its own world: 96 px, mini vocabulary) in fp32 and in bf16, first glance and refined: how many
# captions are identical, the CIDEr of each (glance eval), wall time and peak RSS (GNU time). Part 2 (FULL=1,
# the default): glance bench at full size (random weights) in both precisions, without and with --refine (the
# second glance's overhead), and the full-size logits' max |Δ| between them (--logits-diff). Prints the load average before and after: read the times with it.
#   bash bench/precision.sh                 # TEST=500 images, seed 0
#   TEST=100 FULL=0 bash bench/precision.sh
# Needs: a Release build (dotnet build -c Release), python3 and GNU time (Debian: time).
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=${TEST:-500}
FULL=${FULL:-1}
glance=$PWD/src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance
[ -x "$glance" ] || { echo "build first: dotnet build -c Release" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is missing: apt-get install time" >&2; exit 1; }
command -v python3 > /dev/null || { echo "python3 is missing: apt-get install python3" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$glance" synth --out "$work/world" --test "$TEST" --seed 0 > /dev/null 2>&1
mapfile -t images < <(find "$work/world/images/test" -name '*.png' | sort)
for p in fp32 bf16; do
  /usr/bin/time -f "%e %M" -o "$work/$p.time" "$glance" caption --json --beams 1 --refine --show-initial --precision "$p" "${images[@]}" \
    > "$work/$p.jsonl" 2> "$work/$p.log"
done
python3 - "$work" <<'PY'
import json, sys, os
work = sys.argv[1]
def rows(p):
    return [json.loads(l) for l in open(os.path.join(work, p + ".jsonl")) if l.strip()]
a, b = rows("fp32"), rows("bf16")
assert [r["image"] for r in a] == [r["image"] for r in b]
for key, name in (("initial", "first glance"), ("caption", "refined")):
    same = sum(x[key] == y[key] for x, y in zip(a, b))
    print(f"{name}: bf16 equal to fp32 for {same} of {len(a)} images ({100 * same / len(a):.1f}%)")
for p, rs in (("fp32", a), ("bf16", b)):
    for key in ("initial", "caption"):
        with open(os.path.join(work, f"{p}-{key}.jsonl"), "w") as f:
            for r in rs: f.write(json.dumps({"image": r["image"], "caption": r[key]}) + "\n")
    secs, kib = open(os.path.join(work, p + ".time")).read().split()
    print(f"{p}: {secs} s for {len(rs)} images, both glances, model loading included; peak RSS {int(kib) // 1024} MiB")
PY
for p in fp32 bf16; do
  for key in initial caption; do
    cider=$("$glance" eval --refs "$work/world/test.coco.json" --results "$work/$p-$key.jsonl" --metrics cider --json \
      | python3 -c 'import json,sys; d = json.load(sys.stdin); print("%.1f (%d images)" % (100 * d["metrics"]["CIDEr"], d["images"]))')
    echo "$p $([ $key = initial ] && echo 'first glance' || echo refined): CIDEr $cider"
  done
done
if [ "$FULL" = 1 ]; then
  echo "== glance bench --logits-diff (full size, random weights: fp32 against bf16 on the same weights)"
  "$glance" bench --logits-diff 2>&1 | grep -Ev '^\[' || true
  for p in fp32 bf16; do
    for refine in "" --refine; do
      echo "== glance bench $refine --precision $p --iterations 3 --batch 0 (full size, random weights)"
      "$glance" bench $refine --precision "$p" --iterations 3 --batch 0 2>&1 | grep -Ev '^\[' || true
    done
  done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
