#!/usr/bin/env bash
# The checks that need a GPU, in one short script for a lent accelerator machine (its image has
# torch, pluggy, click, safetensors, tqdm, matplotlib, scikit-learn; the project installs on top).
set -u
export PYTHONUNBUFFERED=1 RNNSUITE_PROGRESS=0
OUT=${OUT:-/tmp/out}
python3 -m pip install -q --no-deps --no-build-isolation -e . -e examples/plugins/rnnsuite-digits 2>&1 | tail -2
python3 -m rnnsuite.apps.cli devices --json
python3 -m pytest -q -p no:cacheprovider tests/core/test_cuda.py tests/core/test_cells.py 2>&1 | tail -4
start=$(date +%s.%N)
python3 -m rnnsuite.apps.cli digits train --out "$OUT/digits" --device cuda --cell gru
python3 -m rnnsuite.apps.cli digits evaluate "$OUT/digits" --json --device cuda
echo "digits gru on cuda: $(echo "$(date +%s.%N) - $start" | bc) s"
python3 bench/core_cells.py --device cuda ${CELLS_QUICK:+--quick} 2>&1 | tee "$OUT/core_cells_cuda.txt"
