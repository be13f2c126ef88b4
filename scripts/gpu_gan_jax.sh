#!/usr/bin/env bash
# Trains Omniglot GAN variants side by side on one GPU with Keras on JAX, for
# a machine without TensorFlow (see scripts/gan_jax.py), and packs their
# weights into tars of at most 15 MiB under $OUT.
#   OUT=/tmp/out MAX_SECONDS=400 scripts/gpu_gan_jax.sh
# Needs experiments/gan_jax/train_images.npz (scripts/gan_jax.py --action=prepare).
# VARIANTS picks runs (default all three). A run folder already under runs/
# (carried over with its newest generator and discriminator weights and
# config.json) is resumed, e.g. the published GAN's run from epoch 140:
#   OUT=/tmp/out VARIANTS=authors MAX_SECONDS=500 scripts/gpu_gan_jax.sh
set -uo pipefail
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
images=${IMAGES:-experiments/gan_jax/train_images.npz}
# gan_jax.py imports lasium_tf, whose networks (models/) install as
# lasium_tf.models: install this checkout, without dependencies (offline).
python3 -c "import lasium_tf.models" 2>/dev/null ||
  python3 -m pip install -q --no-deps --no-build-isolation \
    -e "$(dirname "$0")/.." || {
  echo "could not install this checkout (needs setuptools >= 64)" >&2; exit 2; }
train() {  # name, extra flags...
  local name=$1; shift
  python3 scripts/gan_jax.py --action=train --images=$images \
    --out=runs/$name --max_seconds=${MAX_SECONDS:-400} ${EXTRA:-} "$@" \
    > runs/$name.log 2>&1 && mv runs/$name.log runs/$name/train.log &
}
mkdir -p runs "$OUT"
for variant in ${VARIANTS:-authors beta05 dcgan}; do
  case $variant in
    # The authors' recipe (Adam 3e-4, beta_1 0.9, mode-seeking weight 1).
    authors) train authors --snapshot_epochs=10,30,100,200,300,400 ;;
    # DCGAN's Adam (beta_1 0.5), otherwise the same.
    beta05) train beta05 --generator_beta1=0.5 --snapshot_epochs=30,100 ;;
    # DCGAN's Adam and learning rate (2e-4, beta_1 0.5).
    dcgan) train dcgan --generator_beta1=0.5 --generator_lr=2e-4 \
             --snapshot_epochs=30,100 ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
done
wait
python3 - <<'PY'
import os, tarfile
out = os.environ["OUT"]
for run in sorted(os.listdir("runs")):
  files = sorted(os.listdir(f"runs/{run}"), key=lambda f: (f.endswith(".h5"), f))
  part, size, n = [], 0, 0
  for f in files + [None]:
    s = os.path.getsize(f"runs/{run}/{f}") if f else 0
    if part and (f is None or size + s > 15 * 2**20):
      with tarfile.open(f"{out}/{run}_{n}.tar", "w") as t:
        for p in part:
          t.add(f"runs/{run}/{p}", arcname=f"{run}/{p}")
      part, size, n = [], 0, n + 1
    if f:
      part.append(f); size += s
PY
ls -la $OUT
tail -n 3 runs/*/train.log runs/*.log 2>/dev/null || true
