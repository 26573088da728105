#!/usr/bin/env bash
# Run R of docs/demo/README.md: run Q's world, tiny OPT, tiny CLIP and stage 0 (linked, not copied), stage 1
# trained 12,000 steps (to its plateau) instead of 4,000, then P4's stage 2 and its control, 3,000 steps
# each; then the evaluation's extra rows: the SeR model refining stage 1's own first glance and the
# control's (the refine path as an adapter beside a first glance it did not train).
#   bash docs/demo/experiments/run-r.sh Q_RUN OUT [SEED]
set -euo pipefail
Q=$(realpath "$1"); OUT=$(realpath -m "$2"); SEED=${3:-0}
GLANCE=${GLANCE:-glance}
mkdir -p "$OUT"
for d in world opt-init opt-pretrained clip stage0-pretrain feature-cache; do [ -e "$OUT/$d" ] || ln -s "$Q/$d" "$OUT/$d"; done
$GLANCE demo --out "$OUT" --seed "$SEED" --train-images 12000 --size 128 --finetune-steps 12000 --refine-steps 3000 --refine-lr 1e-3 \
  --first-glance-share 0.5 --single-glance-share 0.2
dotnet run "$(dirname "$0")/evaluate.cs" -- "$OUT/world" "ser-on-stage1=$OUT/stage2-refine:refine@$OUT/stage1-finetune" \
  "ser-on-control=$OUT/stage2-refine:refine@$OUT/stage1-more" | tee "$OUT/eval-extra.txt"
