#!/usr/bin/env bash
# The d << c grid of docs/benchmarks.md on the glyph benchmark (benchmarks/build_glyphs.py):
# softmax, static and dynamic at d = 10 and d = 32 on two seeds, then the ablations at d = 10.
# Usage: benchmarks/glyph_gap.sh GLYPHS_DIR RESULTS.json
# Runs already in RESULTS.json are skipped, so an interrupted grid continues where it stopped;
# the last command prints the table of every run in the file.
set -euo pipefail
data=$1 json=$2
tc() {
    python benchmarks/train_compare.py --data imagefolder --data-path "$data" --backbone cnn \
        --epochs 4 --batch-size 32 --lr 0.05 --json "$json" "$@"
}
# the three heads, and the cross-entropy loss on the prototypes
tc --dims 10 32 --seeds 0 1 --modes softmax static dynamic
tc --dims 10 --seeds 0 1 --modes dynamic-ce
tc --dims 10 --seeds 0 --modes static-ce
# batch norm on the features before the head (all heads), alone and with the CE loss
tc --dims 10 --seeds 0 1 --modes dynamic-ce --set feature_bn=true
tc --dims 10 --seeds 0 --modes softmax static-ce --set feature_bn=true
tc --dims 32 --seeds 0 --modes dynamic-ce --set feature_bn=true
# the CE scale, the warm-up, the assignment's cadence, the budget
tc --dims 10 --seeds 0 --modes dynamic-ce --set ce_scale=32
tc --dims 10 --seeds 0 --modes dynamic-ce --set warmup_epochs=1
tc --dims 10 --seeds 0 --modes dynamic --set assign_every=0.25
tc --dims 10 --seeds 0 --modes dynamic-ce --set feature_bn=true --epochs 8
tc --dims 10 32 --seeds 0 --modes softmax  # nothing left to run: prints the table of every run in the file
