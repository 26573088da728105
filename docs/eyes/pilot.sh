#!/usr/bin/env bash
# Pilot of the new tower's losses at today's tower shape (96 px, patch 12: 8x8 grid, 6 blocks of width 128):
# hard negatives + the scene-graph loss on hidden state -2, 400 steps of 32 (12,800 images; the default
# model's tower saw 20,000 in 315 steps of 64 without them). Then the probes of docs/eyes/README.md.
# Resumes from runs/eyes/pilot/checkpoint when rerun.
set -euo pipefail
cd "$(dirname "$0")/../.."
GLANCE=${GLANCE:-src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance}
bash docs/eyes/world.sh
"$GLANCE" train --stage clip --data runs/eyes/world/train.llava.json \
  --images runs/eyes/world/images --out runs/eyes/pilot --tokenizer models/default \
  --tower-layers 6 --tower-width 128 --hard-negatives --scene-loss 1 --scene-layer -2 \
  --batch 32 --max-steps 400 --epochs 1 --lr 5e-4 --warmup 0.05 --seed 0 --checkpoint-every 50
for who in default pilot; do
  tower=(); [ "$who" = pilot ] && tower=(--clip runs/eyes/pilot)
  "$GLANCE" analyze tower --layers "${tower[@]}" --world runs/probe96 --images 2000 --only-layers 3,5,6 > "runs/eyes/probe-$who.txt"
done
