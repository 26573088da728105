#!/usr/bin/env bash
# Runs O–P of docs/demo/README.md: a stage 1 trained to a plateau, copy-friendly pseudo-initial captions,
# and a stage 2 that keeps the first glance and teaches DeepLens to see ("eyes first"), against stage 1
# continued for as many steps. Starts from a `glance demo` run folder (its world, tiny OPT, CLIP, stage 0).
#   bash docs/demo/experiments/run-o.sh BASE OUT [SEED]
# Knobs (environment): S1 (stage-1 steps), S2 (stage-2 steps), FIRST, SINGLE, LMSCALE, LR2, SAMPLES,
# KEEP=1 (the second glance also reads the first glance's visual tokens: keep_first_glance), VARIANT (detr|bert).
# A step whose output exists is skipped, so runs can share stage 1 and the data (symlinks).
set -euo pipefail
BASE=$(realpath "$1"); OUT=$(realpath -m "$2"); SEED=${3:-0}
GLANCE=${GLANCE:-glance}
S1=${S1:-4000}; S2=${S2:-1500}; FIRST=${FIRST:-0.3}; SINGLE=${SINGLE:-0.3}; LMSCALE=${LMSCALE:-0.2}; LR2=${LR2:-5e-4}; SAMPLES=${SAMPLES:-3}; KEEP=${KEEP:-0}; VARIANT=${VARIANT:-detr}
W=$BASE/world; CACHE=$BASE/feature-cache
mkdir -p "$OUT"
common=(--images "$W/images" --val "$W/val.llava.json" --feature-cache "$CACHE" --closed-vocabulary --batch 32 --epochs 1000 --seed "$SEED" --checkpoint-every 500)

# Stage 1 to a plateau, validation CIDEr (200 images, greedy) every 400 steps.
[ -f "$OUT/stage1/model.safetensors" ] || $GLANCE train --stage finetune --init "$BASE/stage0-pretrain" --data "$W/train.llava.json" \
  --out "$OUT/stage1" --max-steps "$S1" --lr 1e-3 --eval-every 400 --val-score-images 200 "${common[@]}"

# Data1: the stage-1 model's own captions of the training images, greedy and SAMPLES sampled ones.
if [ ! -f "$OUT/data1.jsonl" ]; then
  $GLANCE caption --model "$OUT/stage1" --json --beams 1 --max-new-tokens 40 --batch 64 "$W/images/train" > "$OUT/data1.part"
  for s in $(seq 1 "$SAMPLES"); do
    $GLANCE caption --model "$OUT/stage1" --json --sample --temperature 0.7 --seed "$s" --max-new-tokens 40 --batch 64 "$W/images/train" >> "$OUT/data1.part"
  done
  mv "$OUT/data1.part" "$OUT/data1.jsonl"
fi
# Copy-friendly pairs: each model caption with its nearest reference (small edits only), the ground
# truth as one variant (Data4), rule edits for the rest.
[ -f "$OUT/train-ser.json" ] || $GLANCE pseudo --in "$W/train.llava.json" --out "$OUT/train-ser.json" --strategy model \
  --captions "$OUT/data1.jsonl" --include-gt --variants 3 --max-edits 3 --seed "$SEED" --json > "$OUT/pseudo-summary.json"

# Stage 2: DeepLens + LM (+ MLP on the first-glance examples), the LM at a lower rate.
python3 - "$OUT/stage1/config.json" "$OUT/deeplens.json" "$KEEP" "$VARIANT" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); v = c["vision_config"]; n = v["num_hidden_layers"]
json.dump({"variant": sys.argv[4], "tapped_layers": [n - 1, round(n * 13 / 24), round(n * 18 / 24)], "vision_width": v["hidden_size"],
           "d_model": v["hidden_size"], "decoder_layers": 2, "decoder_attention_heads": v["num_attention_heads"],
           "decoder_ffn_dim": v["intermediate_size"], "num_queries": 32, "lm_hidden": c["hidden_size"],
           "keep_first_glance": sys.argv[3] == "1"}, open(sys.argv[2], "w"), indent=1)
PY
[ -f "$OUT/ser/model.safetensors" ] || $GLANCE train --stage refine --init "$OUT/stage1" --data "$OUT/train-ser.json" --out "$OUT/ser" \
  --deeplens-config "$OUT/deeplens.json" --max-steps "$S2" --lr "$LR2" --first-glance-share "$FIRST" --single-glance-share "$SINGLE" \
  --lm-lr-scale "$LMSCALE" --train-projector --eval-every 300 --val-score-images 200 "${common[@]}"

# The fair control: stage 1 continued for as many steps as stage 2 took.
[ -f "$OUT/stage1-more/model.safetensors" ] || $GLANCE train --stage finetune --init "$OUT/stage1" --data "$W/train.llava.json" \
  --out "$OUT/stage1-more" --max-steps "$S2" --lr 1e-3 --eval-every 300 --val-score-images 200 "${common[@]}"

dotnet run "$(dirname "$0")/evaluate.cs" -- "$W" "single=$OUT/stage1" "more=$OUT/stage1-more" "ser=$OUT/ser:refine" | tee "$OUT/eval.txt"
