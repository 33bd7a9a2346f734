#!/usr/bin/env bash
# The checks that need a GPU, in one prepared script for a lent accelerator machine, which a
# session gets for about 15 minutes in all (its image has torch, torchaudio, pluggy, click,
# safetensors, tqdm, matplotlib, pandas; soundfile/soxr travel as wheels in $WHEELS). Every part
# runs under its own time limit, and the whole script ends by $DEADLINE seconds:
#
#   1. install the project (editable) and the digits example plugin;
#   2. bench/core_cells.py --device cuda --amp bf16: cuDNN vs reference cells and the AMP
#      speed-up (issue 7), alone on the GPU so that its timings are clean;
#   3. side by side on the GPU, quality runs whose timings are not reported:
#      - bench/speech.py on $SPEECH_CORPUS for the default model and a larger one (issue 6),
#      - bench/lm_shakespeare.py: hand loop vs rnnsuite and rnn/lstm/gru at 3000 steps, and a
#        sweep of recipe variants at the CPU budget's step counts (issue 4),
#      - tests/core/test_cuda.py;
#   4. pack: $OUT/results.tar.gz (logs, JSON, run folders without weights) and each speech
#      run's weights as fp16 safetensors shards under 15 MB ($OUT/speech-NAME-K.safetensors).
#
#   OUT=/tmp/out DEVICE=cpu DRY=1 bash bench/device_check.sh     # rehearse on a CPU, tiny sizes
set -u
export PYTHONUNBUFFERED=1 RNNSUITE_PROGRESS=0
OUT=${OUT:-/tmp/out}
DEVICE=${DEVICE:-cuda}
DRY=${DRY:-0}
WHEELS=${WHEELS:-.bench-speech/whl}
SPEECH_CORPUS=${SPEECH_CORPUS:-.bench-speech/corpus}
DEADLINE=${DEADLINE:-520}          # seconds from the start: everything is stopped by then
SPEECH_S=${SPEECH_S:-200}          # training seconds per speech model
CELLS_S=${CELLS_S:-140}
R=/tmp/device-results
rm -rf "$R"; mkdir -p "$R" "$OUT"
T0=$(date +%s)
el() { echo $(($(date +%s) - T0)); }
log() { echo "[$(el) s] $*"; }

# 1. install ----------------------------------------------------------------------------------
if [ "$DRY" = 0 ]; then
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/*.whl \
      && export PYTHONPATH=/tmp/site
  fi
  if ! python3 -m pip install -q --no-deps --no-build-isolation -e . -e examples/plugins/rnnsuite-digits 2>&1 | tail -2; then
    log "editable install failed; using a path shim"
  fi
  if ! python3 -c "import rnnsuite.core, rnnsuite_digits" 2>/dev/null; then
    mkdir -p /tmp/shim/rnnsuite && for d in core plugins apps; do ln -sfn "$PWD/$d" /tmp/shim/rnnsuite/$d; done
    export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}/tmp/shim:$PWD/examples/plugins/rnnsuite-digits
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python3 -c "import torch, rnnsuite.core; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 -m rnnsuite.apps.cli devices --json > "$R/devices.json" 2>&1; head -c 600 "$R/devices.json"; echo

# 2. cell timings, alone on the device ---------------------------------------------------------
if [ "$DRY" = 0 ]; then cells=(--amp bf16 --rounds 3); else cells=(--quick --rounds 1 --threads 1); fi
log "core_cells"
timeout "$CELLS_S" python3 bench/core_cells.py --device "$DEVICE" "${cells[@]}" 2>&1 | tee "$R/core_cells_$DEVICE.txt"

# 3. quality runs side by side -----------------------------------------------------------------
pids=()
start() {  # start NAME TIMEOUT CMD...: in the background, output to $R/NAME.log
  local name=$1 limit=$2; shift 2
  (OMP_NUM_THREADS=${THREADS:-2} timeout "$limit" "$@" >"$R/$name.log" 2>&1; echo "exit $?" >>"$R/$name.log") &
  pids+=($!)
}
left=$((DEADLINE - $(el) - 20))
if [ "$DRY" = 0 ]; then sp=(--max-time "$SPEECH_S" --epochs 1000); else sp=(--max-time 20 --epochs 1 --test-n 20); fi
if [ -f "$SPEECH_CORPUS/manifest.csv" ]; then
  THREADS=3 start speech-default "$left" python3 bench/speech.py --corpus "$SPEECH_CORPUS" --run /tmp/speech-default \
    --device "$DEVICE" "${sp[@]}"
  THREADS=3 start speech-large "$left" python3 bench/speech.py --corpus "$SPEECH_CORPUS" --run /tmp/speech-large \
    --device "$DEVICE" "${sp[@]}" --set hidden_size=320 --set num_layers=4 --set dropout=0.25 --set conv_channels=256 \
    --set amp=off   # fp32: a second opinion in case autocast fails on the device
else
  log "no speech corpus at $SPEECH_CORPUS"
fi
[ "$DRY" = 0 ] && start test-cuda 240 python3 -m pytest -q -p no:cacheprovider tests/core/test_cuda.py

LM=(python3 bench/lm_shakespeare.py --corpus bench/_lm_data/tiny-shakespeare.txt --device "$DEVICE" --threads 1)
if [ "$DRY" = 0 ]; then side=3000; base=2270; else side=5; base=5; fi
THREADS=1 start lm-side "$left" "${LM[@]}" --recipes hand,rns-lstm,rns-gru,rns-rnn --steps "$side" \
  --workdir /tmp/lm-side --json "$R/lm-side.json"
# name:overrides:CPU cost relative to the default (step counts keep the 15-minute CPU budget)
variants=(
  "default::1.0"
  "lr4:lr=4e-3:1.0"
  "lr2:lr=2e-3:1.0"
  "edrop:embedding_dropout=0.1:1.0"
  "wd3:weight_decay=0.3:1.0"
  "b16:batch_size=16:0.5"
  "bptt256:bptt=256,batch_size=16:1.0"
  "emb256:embedding_dim=256:1.23"
  "gru:cell=gru:1.37"
  "h384:hidden_size=384:2.0"
)
[ "$DRY" = 1 ] && variants=("default::1.0" "lr4:lr=4e-3:1.0")
for v in "${variants[@]}"; do
  IFS=: read -r name sets cost <<<"$v"
  steps=$(python3 -c "print(max(1, round($base / $cost)))")
  extra=(--recipes default)
  [ -n "$sets" ] && extra=(--variant "$name:$sets" --recipes "$name")
  THREADS=1 start "lm-$name" "$left" "${LM[@]}" "${extra[@]}" --steps "$steps" --workdir "/tmp/lm-$name" \
    --json "$R/lm-$name.json"
done
log "started ${#pids[@]} jobs; waiting until $DEADLINE s at most"
while :; do
  running=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
  [ "$running" = 0 ] && break
  if [ "$(el)" -ge $((DEADLINE - 25)) ]; then log "deadline: stopping $running jobs"; kill "${pids[@]}" 2>/dev/null; sleep 2; break; fi
  sleep 5
done
for f in "$R"/*.log; do echo "== $(basename "$f")"; tail -4 "$f"; done

# 4. pack --------------------------------------------------------------------------------------
for run in /tmp/speech-*; do
  [ -d "$run" ] || continue
  name=$(basename "$run")
  cp "$run/bench.json" "$R/$name.json" 2>/dev/null
  mkdir -p "$R/$name" && cp "$run"/config.json "$run"/metrics.csv "$R/$name/" 2>/dev/null
  python3 - "$run/model.safetensors" "$OUT/$name" <<'EOF' || true
import sys
from safetensors.torch import load_file, save_file
tensors, shard, size, k = load_file(sys.argv[1]), {}, 0, 0
def flush():
    global shard, size, k
    if shard:
        save_file(shard, f"{sys.argv[2]}-{k}.safetensors", metadata={"dtype": "float16 copy"})
        shard, size, k = {}, 0, k + 1
for name, t in tensors.items():
    t = t.half() if t.is_floating_point() else t
    if size + t.numel() * t.element_size() > 15e6:
        flush()
    shard[name] = t.contiguous()
    size += t.numel() * t.element_size()
flush()
EOF
done
tar -czf "$OUT/results.tar.gz" -C "$R" .
ls -la "$OUT"
log "done"
