#!/usr/bin/env bash
# Reproduce the shipped human fold models: one per held-out chromosome (chr13, chr18, chr20), each trained on the
# other shared chromosomes with chrY for validation, then exported, parity-checked and scored on its held-out
# chromosome through the ONNX predictor by export/ship_model.py.
#
#   bash export/train_human_folds.sh [DATA_DIR] [MAX_TIME]
#
# DATA_DIR defaults to ../shared/data/GRCh38p13; MAX_TIME (DD:HH:MM:SS) caps each training run. The shipped models
# were trained on a 2-core CPU, the three folds side by side with one thread each (see the model card in README.md
# for the time each got). Pass THREADS=N to give each run more threads, or run the folds one after another on a GPU
# by adding --accelerator gpu to TRAIN_ARGS.
set -euo pipefail
data=${1:-../shared/data/GRCh38p13}
max_time=${2:-00:01:40:00}
log_dir=${LOG_DIR:-runs/human_folds}
TRAIN_ARGS=(--orf_features --depth 3 --local_window_size 128 --ff_chunks 1
            --crop_len 600 --random_crop --tis_crop_frac 0.5 --max_tokens 12000 --lr 3e-3 --pos_weight 10
            --limit_train_batches 100 --max_epochs 100 --limit_test_batches 0 --seed 1 --no_progress_bar)

train_fold() {
    local held=$1
    OMP_NUM_THREADS=${THREADS:-1} tis-transformer train "$data" chrY.npy.gz "$held.npy.gz" "${TRAIN_ARGS[@]}" \
        --max_time "$max_time" --log_dir "$log_dir" --name "fold_$held"
}

mkdir -p "$log_dir"
for held in chr13 chr18 chr20; do
    train_fold "$held" > "$log_dir/fold_$held.log" 2>&1 &
done
wait

for held in chr13 chr18 chr20; do
    run=$(ls -d "$log_dir/fold_$held"/version_* | sort -V | tail -1)
    best=$(ls "$run"/checkpoints/best-*.ckpt | head -1)
    trained=$(ls "$data" | grep -E '\.npy\.gz$' | grep -v -e "^$held\." -e '^chrY\.' | paste -sd, -)
    name=human_$held
    [ "$held" = chr20 ] && name=human  # the default model
    python export/ship_model.py "$best" --name "$name" --data "$data" --held_out "$held.npy.gz" \
        --trained_on "$trained" --validated_on chrY.npy.gz \
        --description "TIS Transformer (Performer with reading-frame features), human, trained without $held" \
        --training_command "tis-transformer train $data chrY.npy.gz $held.npy.gz ${TRAIN_ARGS[*]} --max_time $max_time"
done
