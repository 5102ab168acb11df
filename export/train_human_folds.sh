#!/usr/bin/env bash
# Reproduce the shipped human fold models: one per held-out chromosome (chr13, chr18, chr20), each trained on the
# other shared chromosomes with chrY for validation, then exported, parity-checked and scored on its held-out
# chromosome through the ONNX predictor by export/ship_model.py.
#
#   bash export/train_human_folds.sh [DATA_DIR] [STAGE1_TIME] [STAGE2_TIME]
#
# Two stages, as the shipped weights were made:
#   1. commit 5fcb7f9's recipe, checked out in a temporary git worktree: reading-frame features orf-v1 (10 columns),
#      Adam 3e-3 from scratch (seed 1);
#   2. this commit: features orf-v2 (those 10 plus 5 hexamer coding-score columns, their table fitted on the training
#      chromosomes) and a feature head (a per-position MLP of the features added to the output), starting from stage
#      1's best checkpoint (--transfer_checkpoint widens the feature embedding with zero columns). The feature head is
#      prefitted alone (seconds), the encoder's output head zeroed, then the whole network trained with Adam 5e-4
#      (seed 2). Each fold ships the prefitted model or the best trained checkpoint, whichever validated higher on chrY.
# DATA_DIR defaults to ../shared/data/GRCh38p13; STAGE1_TIME and STAGE2_TIME (DD:HH:MM:SS) cap each training run.
# The shipped models were trained on a 2-core CPU, the three folds side by side with one thread each (the model card
# in README.md gives the time each got). THREADS=N gives each run more threads; on a GPU add --accelerator gpu to
# COMMON. Run it from a git checkout (stage 1 needs the history).
set -euo pipefail
data=$(realpath "${1:-../shared/data/GRCh38p13}")
stage1_time=${2:-00:01:40:00}
stage2_time=${3:-00:00:40:00}
log_dir=$(realpath -m "${LOG_DIR:-runs/human_folds}")
STAGE1_COMMIT=5fcb7f9
COMMON=(--orf_features --depth 3 --local_window_size 128 --ff_chunks 1
        --crop_len 600 --random_crop --tis_crop_frac 0.5 --max_tokens 12000 --pos_weight 10
        --limit_train_batches 100 --max_epochs 100 --limit_test_batches 0 --no_progress_bar)
STAGE1_ARGS=("${COMMON[@]}" --lr 3e-3 --seed 1 --max_time "$stage1_time")
STAGE2_ARGS=("${COMMON[@]}" --feature_head 128 --prefit_feature_head 20 --lr 5e-4 --seed 2 --max_time "$stage2_time")
FOLDS=(chr13 chr18 chr20)

best_checkpoint() {  # the best checkpoint of a run name's newest version
    local run
    run=$(ls -d "$log_dir/$1"/version_* | sort -V | tail -1)
    ls "$run"/checkpoints/best-*.ckpt | head -1
}

chosen_checkpoint() {  # prefit.ckpt or the best trained checkpoint of a run, whichever validated higher
    python - "$log_dir/$1" <<'PY'
import csv, pathlib, re, sys
run = max(pathlib.Path(sys.argv[1]).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
prefit = next(float(r["val_pr_auc"]) for r in csv.DictReader(open(run / "metrics.csv")) if r.get("val_pr_auc"))
best = sorted(run.glob("checkpoints/best-*.ckpt"))
score = float(re.search(r"val_pr_auc=([0-9.]+)\.ckpt$", best[0].name).group(1)) if best else -1.0
print(best[0] if score > prefit else run / "checkpoints" / "prefit.ckpt")
PY
}

mkdir -p "$log_dir"
stage1=$(mktemp -d)/stage1
git worktree add --detach "$stage1" "$STAGE1_COMMIT" > /dev/null
trap 'git worktree remove --force "$stage1"' EXIT

for held in "${FOLDS[@]}"; do
    (cd "$stage1" && OMP_NUM_THREADS=${THREADS:-1} python -m tis_transformer train "$data" chrY.npy.gz \
        "$held.npy.gz" "${STAGE1_ARGS[@]}" --log_dir "$log_dir" --name "stage1_$held") \
        > "$log_dir/stage1_$held.log" 2>&1 &
done
wait

for held in "${FOLDS[@]}"; do
    OMP_NUM_THREADS=${THREADS:-1} tis-transformer train "$data" chrY.npy.gz "$held.npy.gz" "${STAGE2_ARGS[@]}" \
        --transfer_checkpoint "$(best_checkpoint "stage1_$held")" --log_dir "$log_dir" --name "fold_$held" \
        > "$log_dir/fold_$held.log" 2>&1 &
done
wait

for held in "${FOLDS[@]}"; do
    trained=$(ls "$data" | grep -E '\.npy\.gz$' | grep -v -e "^$held\." -e '^chrY\.' | paste -sd, -)
    name=human_$held
    [ "$held" = chr20 ] && name=human  # the default model
    python export/ship_model.py "$(chosen_checkpoint "fold_$held")" --name "$name" --data "$data" \
        --held_out "$held.npy.gz" --trained_on "$trained" --validated_on chrY.npy.gz \
        --description "TIS Transformer (Performer with reading-frame features), human, trained without $held" \
        --training_command "stage 1 (commit $STAGE1_COMMIT): tis-transformer train DATA chrY.npy.gz $held.npy.gz \
${STAGE1_ARGS[*]}; stage 2: tis-transformer train DATA chrY.npy.gz $held.npy.gz ${STAGE2_ARGS[*]} \
--transfer_checkpoint STAGE1_BEST (export/train_human_folds.sh)"
done
