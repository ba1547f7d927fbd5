#!/usr/bin/env bash
# One prepared run on a lent GPU machine (the device tool): the CUDA paths that never ran on this
# project's CPU machines, then a DCGAN on binarized MNIST for what is left of the time budget.
# The machine has its own python3 with PyTorch and every package deepgen needs; deepgen runs
# from src/.
#
# Here, once (.device/ is git-ignored; the classifier is optional, it saves training one there):
#   mkdir -p .device && cp -r ../shared/data .device/ && chmod -R u+w .device
#   cp runs/SOME_BINARIZED_MNIST_GAN_RUN/classifier.pt .device/
# Device tool: run(command="bash benchmarks/gpu_session.sh", carry=[".device"], timeout_s=540)
# Dry run on this CPU (plumbing only):
#   OUT=/tmp/g PY=.venv/bin/python DEVICE=cpu BUDGET=240 STEP_SECONDS=60 \
#       GAN_EXTRA="--width 8 --eval-samples 1000" bash benchmarks/gpu_session.sh
#
# What comes back in $OUT (at most 8 files, as the tool returns them): env.txt, cuda_tests.txt,
# paths.txt (each step's exit status, seconds and last lines), gan_metrics.json,
# gan_val_log.jsonl, gan_samples.png.
set -uo pipefail
OUT=${OUT:?set OUT to the folder whose files come back}
DATA=${DATA:-.device/data}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
BUDGET=${BUDGET:-480}              # seconds for the whole script, under the tool's timeout_s
STEP_SECONDS=${STEP_SECONDS:-120}  # a limit on each step before the GAN, so one hang costs little
GAN_MARGIN=${GAN_MARGIN:-120}      # seconds the GAN needs besides training: data, scoring, plots
read -r -a GAN_EXTRA <<<"${GAN_EXTRA:-}"  # more gan flags (the dry run's smaller networks)
WORK=$(mktemp -d)
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
printf 'import sys\nfrom deepgen.cli.main import main\nsys.exit(main())\n' >"$WORK/run_deepgen.py"
DEEPGEN=("$PY" "$WORK/run_deepgen.py")

step() { # step NAME SECONDS CMD...: run under a time limit; its status and time go to paths.txt
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    timeout "$limit" "$@" >"$WORK/$name.log" 2>&1
    rc=$?
    printf '%s: exit %s in %ss\n' "$name" "$rc" "$((SECONDS - t0))" >>"$OUT/paths.txt"
    tail -n 5 "$WORK/$name.log" | sed 's/^/    /' >>"$OUT/paths.txt"
}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    "$PY" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())'
} >"$OUT/env.txt" 2>&1

step cuda_tests "$STEP_SECONDS" "$PY" -m pytest -q -p no:cacheprovider tests/train/test_cuda_paths.py
cp "$WORK/cuda_tests.log" "$OUT/cuda_tests.txt"

SMALL=(--steps 200 --val-every 100 --checkpoint-every 100 --quiet --device "$DEVICE")
step torchrun_vae "$STEP_SECONDS" "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 \
    "$WORK/run_deepgen.py" vae "${SMALL[@]}" --eval-k 20 --out "$WORK/ddp"
step pixelcnn_bf16_compile "$STEP_SECONDS" "${DEEPGEN[@]}" pixelcnn "${SMALL[@]}" \
    --precision bf16 --compile --samples 4 --test-images 100 --out "$WORK/pixelcnn"
step flow_compile "$STEP_SECONDS" "${DEEPGEN[@]}" flow "${SMALL[@]}" --compile --out "$WORK/flow"
step vae_bf16 "$STEP_SECONDS" "${DEEPGEN[@]}" vae "${SMALL[@]}" --precision bf16 --eval-k 20 \
    --out "$WORK/vae"

# the GAN trains for what is left, less the margin its loading and scoring need
left=$((BUDGET - SECONDS - GAN_MARGIN))
minutes=$(awk -v s="$left" 'BEGIN { m = s / 60; if (m < 0.5) m = 0.5; printf "%.2f", m }')
mkdir -p "$WORK/gan"
cp .device/classifier.pt "$WORK/gan/" 2>/dev/null
echo "gan: --minutes $minutes" >>"$OUT/paths.txt"
step gan $((BUDGET - SECONDS > 60 ? BUDGET - SECONDS : 60)) "${DEEPGEN[@]}" gan \
    --data binarized-mnist --data-dir "$DATA/binarized_mnist" --device "$DEVICE" --width 64 \
    --steps 1000000 --minutes "$minutes" --val-every 2000 --checkpoint-every 5000 \
    "${GAN_EXTRA[@]}" --quiet --out "$WORK/gan"
cp "$WORK/gan/metrics.json" "$OUT/gan_metrics.json" 2>/dev/null
cp "$WORK/gan/val_log.jsonl" "$OUT/gan_val_log.jsonl" 2>/dev/null
cp "$WORK/gan/samples.png" "$OUT/gan_samples.png" 2>/dev/null
exit 0
