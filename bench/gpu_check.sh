#!/usr/bin/env bash
# The GPU check of issue 38, on a machine with a CUDA GPU and a CUDA build of torch (DGL stays PyPI's CPU build):
#     OUT=/some/folder bash bench/gpu_check.sh          # ~5 min on one H100
# 1. tests/test_tensor_graph.py with its CUDA tests running (none may skip): every registered model's predictions
#    and gradients on the GPU equal the CPU's, one CIGIN step trains there;
# 2. the CLI end to end: zoo run, zoo predict and zoo pretrain (3DMRL, also --compile) with --device cuda;
# 3. the bench record: CIGIN training pairs/s on CompSol and 3DMRL pretraining pairs/s (bench/gpu_bench.py).
# DEVICE=cpu runs the same steps on the CPU (a check of this script; the CUDA tests then skip).
set -euo pipefail
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$(mktemp -d)}
export ZOO_HOME=${ZOO_HOME:-$OUT/zoo-home}
mkdir -p "$OUT"
python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPU:',
torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)" | tee "$OUT/device.txt"

python -m pytest -q -rs tests/test_tensor_graph.py 2>&1 | tee "$OUT/pytest.txt"
if [ "$DEVICE" != cpu ] && grep -q SKIPPED "$OUT/pytest.txt"; then echo "CUDA tests skipped" >&2; exit 1; fi

zoo run --encoder cigin --dataset freesolv --folds 5 --repeats 1 --only-fold 0 --epochs 3 --device "$DEVICE" \
    --output "$OUT/runs" --json -q > "$OUT/run.json"
RUN=$(python -c "import json; print(json.load(open('$OUT/run.json'))['run_dir'])")
grep -q "^device: $DEVICE" "$RUN/config.yaml"
printf 'solute,solvent\nCCO,O\nc1ccccc1,CCCCCCCCO\n' > "$OUT/pairs.csv"
zoo predict --run "$RUN" --input "$OUT/pairs.csv" --output "$OUT/predictions.csv" --device "$DEVICE"
zoo predict --run "$RUN" --input "$OUT/pairs.csv" --output "$OUT/predictions-cpu.csv" --device cpu
paste -d' ' "$OUT/predictions.csv" "$OUT/predictions-cpu.csv"
for settings in "--seed 0" "--seed 1 --compile"; do  # another seed: --compile is not in the cache key
    zoo pretrain --pretrainer 3dmrl --encoder cigin --pairs freesolv --epochs 1 --device "$DEVICE" $settings \
        --output "$OUT/pretrain" --json -q | tee -a "$OUT/pretrain.json"
done

python bench/gpu_bench.py --device "$DEVICE" --epochs 2 --pairs 500 | tee "$OUT/gpu_bench.txt"
cp bench/results/gpu-"${DEVICE/:/}".json "$OUT/" 2>/dev/null || true
echo "gpu check passed: $OUT"
