#!/usr/bin/env bash
# Reproduce the shipped human fold models: one per held-out chromosome (chr13, chr18, chr20), each trained on the
# other shared chromosomes with chrY for validation, then exported, parity-checked and scored on its held-out
# chromosome through the ONNX predictor by export/ship_model.py.
#
#   bash export/train_human_folds.sh [DATA_DIR] [TRAIN_TIME]
#
# One stage per fold: reading-frame features orf-v5 (55 columns; their hexamer table fitted on the fold's training
# chromosomes) and a feature head (a per-position MLP of the standardized features whose logit adds to the
# Performer's). The feature head is prefitted alone on every ATG and TIS of the training chromosomes plus a 2% sample
# of other positions weighing 2 each (8 passes, about a minute); boosted trees (LightGBM, 600 rounds, two stages: the
# second also reads the cross-fitted first stage's scores pooled over each transcript's ATGs; both read how each ATG
# compares with the same start in the other transcripts, --isoform_trees) are fitted to the same features at the ATGs
# and blended with the head there (0.85 trees); the encoder's output head is zeroed, then the
# Performer trained from scratch on top of the fixed head with Adam 2e-3 (seed 2). Each fold ships the prefitted model
# or the best trained checkpoint, whichever validated higher on chrY. On 2 CPU cores the Performer has not beaten the
# prefitted head within 35 minutes, so the default TRAIN_TIME is 8 minutes; give it hours on a GPU.
# DATA_DIR defaults to ../shared/data/GRCh38p13; TRAIN_TIME (DD:HH:MM:SS) caps each training run.
# The shipped models were trained on a 2-core CPU, the three folds side by side with one thread each (the model card
# in README.md gives the time each got). THREADS=N gives each run more threads; on a GPU add --accelerator gpu to
# ARGS.
set -euo pipefail
data=$(realpath "${1:-../shared/data/GRCh38p13}")
train_time=${2:-00:00:08:00}
log_dir=$(realpath -m "${LOG_DIR:-runs/human_folds}")
ARGS=(--orf_features --depth 3 --local_window_size 128 --ff_chunks 1
      --crop_len 600 --random_crop --tis_crop_frac 0.5 --max_tokens 12000 --pos_weight 10
      --limit_train_batches 100 --max_epochs 100 --limit_test_batches 0 --no_progress_bar
      --feature_head 128 --prefit_feature_head 8 --prefit_other_weight 2 --trees 600
      --lr 2e-3 --seed 2 --max_time "$train_time")
FOLDS=(chr13 chr18 chr20)

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
