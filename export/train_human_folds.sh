#!/usr/bin/env bash
# Reproduce the shipped human models: three fold models (human_chr13, human_chr18, human_chr20), each trained on the
# other shared chromosomes, and the default model (human), trained on all four of chr13, chr18, chr20 and chr22; all
# validated on chrY. Each comes as a pair: NAME.onnx (its trees compare each start with the input's other
# transcripts) and NAME.alone.onnx (the same recipe with --no-isoform_trees), which the predictor uses for
# transcripts scored alone. Each is exported, parity-checked and, for the folds, scored on its held-out chromosome
# through the ONNX predictor by export/ship_model.py.
#
#   bash export/train_human_folds.sh [DATA_DIR]
#
# Every run is the default preset (tis_transformer/training/presets/default.yaml; the recipe is described there and
# nowhere else): features, a prefitted feature head and boosted trees, no transformer layers. DATA_DIR defaults to
# ../shared/data/GRCh38p13. The shipped models were trained on a 2-core CPU, two runs side by side with one thread
# each, 4 to 14 minutes per run (MODEL_CARD.md). THREADS=N gives each run more threads.
set -euo pipefail
data=$(realpath "${1:-../shared/data/GRCh38p13}")
log_dir=$(realpath -m "${LOG_DIR:-runs/human_models}")
ARGS=(--preset default --no_progress_bar)
mkdir -p "$log_dir/all"
for file in chr13 chr18 chr20 chr22 chrY; do ln -sf "$data/$file.npy.gz" "$log_dir/all/"; done

train() {  # NAME DATA TEST [more options]: one run, its chosen checkpoint recorded in test_metrics.json
    local name=$1 folder=$2 test=$3
    shift 3
    OMP_NUM_THREADS=${THREADS:-1} tis-transformer train "$folder" chrY.npy.gz "$test" "${ARGS[@]}" "$@" \
        --log_dir "$log_dir" --name "$name" > "$log_dir/$name.log" 2>&1
}

chosen_checkpoint() {
    python - "$log_dir/$1" <<'PY'
import json, pathlib, sys
run = max(pathlib.Path(sys.argv[1]).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
print(json.loads((run / "test_metrics.json").read_text())["checkpoint"])
PY
}

for variant in "" .alone; do
    more=()
    [ "$variant" = .alone ] && more=(--no-isoform_trees)
    for held in chr13 chr18 chr20; do
        train "human_$held$variant" "$data" "$held.npy.gz" "${more[@]}" &
        [ "$held" = chr18 ] && wait  # two runs at a time on 2 cores
    done
    train "human$variant" "$log_dir/all" - "${more[@]}" &
    wait
done

for variant in "" .alone; do
    for held in chr13 chr18 chr20 all; do
        name=human_$held$variant folder=$data held_out=$held.npy.gz scope="trained without $held"
        if [ "$held" = all ]; then
            name=human$variant folder=$log_dir/all held_out="" scope="trained on chr13, chr18, chr20 and chr22"
        fi
        trained=$(ls "$folder" | grep -E '\.npy\.gz$' | grep -v -e "^$held\." -e '^chrY\.' | paste -sd, -)
        kind="feature head and boosted trees comparing isoforms, no transformer layers"
        [ "$variant" = .alone ] && kind="its variant for transcripts scored alone (--alone): trees fitted without isoform columns"
        python export/ship_model.py "$(chosen_checkpoint "$name")" --name "$name" --data "$folder" \
            --held_out "$held_out" --trained_on "$trained" --validated_on chrY.npy.gz \
            --description "TIS Transformer features (orf-v6), human, $scope: $kind" \
            --training_command "tis-transformer train DATA chrY.npy.gz ${held_out:--} ${ARGS[*]} \
$([ "$variant" = .alone ] && echo "--no-isoform_trees ")(export/train_human_folds.sh)"
    done
done
