#!/usr/bin/env bash
# The worlds of docs/eyes: the tower's training world (seed 0, 16,000 scenes, the default model's world
# settings) and the probe world (seed 11, never trained on: probes train on its 8,000 and score its 2,000).
set -euo pipefail
cd "$(dirname "$0")/../.."
GLANCE=${GLANCE:-src/SharpGlance.Cli/bin/Release/net10.0/linux-x64/glance}
[ -d runs/eyes/world ] || "$GLANCE" synth --out runs/eyes/world --train 16000 --val 200 --test 500 --seed 0
[ -d runs/probe96 ] || "$GLANCE" synth --out runs/probe96 --train 8000 --test 2000 --seed 11
