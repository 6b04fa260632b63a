#!/usr/bin/env bash
# The d << c grid of docs/benchmarks.md on the glyph benchmark (benchmarks/build_glyphs.py):
# characters, so the small-image recipe (`--augment crop`: pad 4 of 32 px, random crop) and no
# flips (a mirrored character is another character or none);
# softmax, static and dynamic at d = 10 and 32 on two seeds, 30 epochs and 4, the cross-entropy
# settings (`--loss ce` at its default scale, 4, among them), and the ablations at
# d = 10. One `protobank train` per run, JOBS at a time; runs RESULTS.jsonl already holds are
# skipped, each new run appends one JSON line to it; `python benchmarks/glyph_table.py
# RESULTS.jsonl` prints the tables. Runs of the loader's earlier recipe (resized-crop and flips)
# are not comparable: start a new RESULTS.jsonl.
# Usage: benchmarks/glyph_grid.sh GLYPHS_DIR RESULTS.jsonl [DEVICE=cuda] [JOBS=12]
set -euo pipefail
data=$1 results=$2 device=${3:-cuda} jobs=${4:-12}
runs=$(mktemp -d)
common="--data imagefolder --data-path $data --augment crop --no-flip --backbone cnn --batch-size 32 --lr 0.05 --device $device --workers 2 --json --no-progress"
# The modes pin 0.2's meanings (softmax and the cross-entropy without the long-tail correction,
# the cross-entropy's scale fixed), so their rows do not move with the package's defaults;
# `default` is the prototype head on today's defaults.
ce="--loss ce --no-learn-scale --long-tail none"
declare -A MODE=(
    [softmax]="--head softmax --long-tail none" [static]="--assign static --loss ipm" [dynamic]="--assign dynamic --loss ipm"
    [dynamic-ce4-fbn]="--assign dynamic $ce --scale 4 --feature-bn"
    [static-ce4-fbn]="--assign static $ce --scale 4 --feature-bn"
    [dynamic-ce4]="--assign dynamic $ce --scale 4" [static-ce4]="--assign static $ce --scale 4"
    [dynamic-ce16]="--assign dynamic $ce --scale 16"
    [softmax-fbn]="--head softmax --long-tail none --feature-bn" [dynamic-fbn]="--assign dynamic --loss ipm --feature-bn"
    [dynamic-ce4-fbn-warm1]="--assign dynamic $ce --scale 4 --feature-bn --warmup-epochs 1"
    [dynamic-ce4-fbn-every025]="--assign dynamic $ce --scale 4 --feature-bn --assign-every 0.25"
    [default]="--assign dynamic"
)
plan() {  # EPOCHS "DIMS" "SEEDS" MODE...
    local e=$1 dims=$2 seeds=$3; shift 3
    for d in $dims; do for s in $seeds; do for m in "$@"; do
        echo "e$e-d$d-s$s-$m --epochs $e --dim $d --seed $s ${MODE[$m]}"
    done; done; done
}
{
    plan 30 "10 32" "0 1" softmax static dynamic dynamic-ce4-fbn static-ce4-fbn
    plan 30 "10 32" "0 1" dynamic-ce4
    plan 30 "10 32" 0 static-ce4
    plan 30 10 0 dynamic-ce16 softmax-fbn dynamic-fbn dynamic-ce4-fbn-warm1 dynamic-ce4-fbn-every025
    plan 4 "10 32" "0 1" softmax static dynamic
    plan 30 "10 32" "0 1" default
    plan 4 "10 32" "0 1" default
} | while read -r name args; do
    grep -q "\"name\": \"$name\"" "$results" 2>/dev/null || echo "$name $args"
done | xargs -r -P "$jobs" -L 1 bash -c '
    name=$0; out=$(python -m protobank train '"$common"' "$@" --out '"$runs"'/$name) || { echo "$name failed" >&2; exit 0; }
    python -c "
import json, sys
m = json.loads(sys.argv[1])
print(json.dumps({\"name\": sys.argv[2], \"top1\": m[\"test_top1\"], \"bal\": m[\"test_balanced_top1\"],
                  \"changes\": m.get(\"assignment_changes\"), \"initial\": m.get(\"initial_assignment_changes\"),
                  \"train_top1\": m[\"history\"][-1][\"train_top1\"]}))" "$out" "$name" >> '"$results"'
'
python benchmarks/glyph_table.py "$results"
