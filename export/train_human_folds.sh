#!/usr/bin/env bash
# Reproduce the shipped human fold models: one per held-out chromosome (chr13, chr18, chr20), each trained on the
# other shared chromosomes with chrY for validation, then exported, parity-checked and scored on its held-out
# chromosome through the ONNX predictor by export/ship_model.py.
#
#   bash export/train_human_folds.sh [DATA_DIR] [TRAIN_TIME]
#
# Each fold runs the default preset (tis_transformer/training/presets/default.yaml: reading-frame features, a
# prefitted feature head, boosted trees and a short Performer run; the recipe is described there and nowhere else)
# and ships the prefitted model or the best trained checkpoint, whichever validated higher on chrY (the run records
# its choice as "checkpoint" in test_metrics.json). TRAIN_TIME overrides the preset's max_time; give it hours on a GPU.
# DATA_DIR defaults to ../shared/data/GRCh38p13; TRAIN_TIME (DD:HH:MM:SS) caps each training run (default: the
# preset's).
# The shipped models were trained on a 2-core CPU, the three folds side by side with one thread each (the model card
# in README.md gives the time each got). THREADS=N gives each run more threads; on a GPU add --accelerator gpu to
# ARGS.
set -euo pipefail
data=$(realpath "${1:-../shared/data/GRCh38p13}")
train_time=${2:-}
log_dir=$(realpath -m "${LOG_DIR:-runs/human_folds}")
# the held-out chromosome is scored through the ONNX model by ship_model.py, not by a Lightning test
ARGS=(--preset default --limit_test_batches 0 --no_progress_bar ${train_time:+--max_time "$train_time"})
FOLDS=(chr13 chr18 chr20)

chosen_checkpoint() {  # the checkpoint the run chose: prefit.ckpt or its best trained one, whichever validated higher
    python - "$log_dir/$1" <<'PY'
import json, pathlib, sys
run = max(pathlib.Path(sys.argv[1]).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
print(json.loads((run / "test_metrics.json").read_text())["checkpoint"])
PY
}

mkdir -p "$log_dir"
for held in "${FOLDS[@]}"; do
    OMP_NUM_THREADS=${THREADS:-1} tis-transformer train "$data" chrY.npy.gz "$held.npy.gz" "${ARGS[@]}" \
        --log_dir "$log_dir" --name "fold_$held" > "$log_dir/fold_$held.log" 2>&1 &
done
wait

for held in "${FOLDS[@]}"; do
    trained=$(ls "$data" | grep -E '\.npy\.gz$' | grep -v -e "^$held\." -e '^chrY\.' | paste -sd, -)
    name=human_$held
    [ "$held" = chr20 ] && name=human  # the default model
    python export/ship_model.py "$(chosen_checkpoint "fold_$held")" --name "$name" --data "$data" \
        --held_out "$held.npy.gz" --trained_on "$trained" --validated_on chrY.npy.gz \
        --description "TIS Transformer (Performer with reading-frame features), human, trained without $held" \
        --training_command "tis-transformer train DATA chrY.npy.gz $held.npy.gz ${ARGS[*]} \
(export/train_human_folds.sh)"
done
