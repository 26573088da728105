#!/usr/bin/env bash
# The new tower's first full recipe (not yet run to its end): 96 px, patch 8 (12x12 grid), 8 blocks of
# width 128, hard negatives and the scene-graph loss on hidden state -2; 12 epochs of the 16,000-scene
# seed-0 world (3,000 steps of 64, ~10x the default tower's 315). Hours on 2 cores: run it alone, at
# normal priority; it checkpoints every 50 steps and resumes when rerun.
set -euo pipefail
cd "$(dirname "$0")/../.."
GLANCE=${GLANCE:-src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance}
bash docs/eyes/world.sh
"$GLANCE" train --stage clip --data runs/eyes/world/train.llava.json --val runs/eyes/world/val.llava.json \
  --images runs/eyes/world/images --out runs/eyes/tower --tokenizer models/default \
  --patch-size 8 --tower-layers 8 --tower-width 128 --hard-negatives --scene-loss 1 --scene-layer -2 \
  --batch 64 --epochs 12 --lr 5e-4 --warmup 0.05 --seed 0 --checkpoint-every 50 --eval-every 250
