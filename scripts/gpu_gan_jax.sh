#!/usr/bin/env bash
# Trains Omniglot GAN variants side by side on one GPU with Keras on JAX
# (--generator_backend=jax: for a machine whose TensorFlow has no CUDA build),
# and packs each run folder as a tar in 15 MiB pieces under $OUT.
#   OUT=/tmp/out MAX_SECONDS=400 DATA=<data root> scripts/gpu_gan_jax.sh
# DATA is the data root holding omniglot/ (default ../shared/data). VARIANTS
# picks runs (default all three). A run folder already under runs/ (carried
# over: config.json and checkpoints/) is resumed, on this backend or any.
set -uo pipefail
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
# lasium_tf's networks (models/) install as lasium_tf.models: install this
# checkout, without dependencies (offline).
python3 -c "import lasium_tf.models" 2>/dev/null ||
  python3 -m pip install -q --no-deps --no-build-isolation \
    -e "$(dirname "$0")/.." || {
  echo "could not install this checkout (needs setuptools >= 64)" >&2; exit 2; }
train() {  # name, extra flags...
  local name=$1; shift
  mkdir -p runs/$name
  python3 -m lasium_tf.main --mode=train_generator --generator_type=gan \
    --generator_backend=jax --data_dir=${DATA:-../shared/data} \
    --experiment_dir=runs/$name --generator_max_seconds=${MAX_SECONDS:-400} \
    ${EXTRA:-} "$@" >> runs/$name/train.log 2>&1 &
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
for run in runs/*/; do
  run=$(basename "$run")
  # One tar per run, cut into 15 MiB pieces (a checkpoint alone is ~19 MiB);
  # rejoin with: cat $OUT/<run>.tar.part-* | tar xf -
  tar cf - -C runs "$run" | split -b 15M - "$OUT/$run.tar.part-"
done
ls -la $OUT
tail -n 3 runs/*/train.log 2>/dev/null || true
