"""Command line: parses flags into a `Config` and calls `lasium_tf.modes.run`.

  python -m lasium_tf.main --flagfile=flags/supervised_maml.cfg

This is the only module that reads FLAGS. Unknown flags are errors (absl).
"""

import shlex
import sys

from absl import app, flags, logging

from lasium_tf import config as config_lib

_MODE = flags.DEFINE_enum("mode", "train_and_evaluate", config_lib.MODES,
                          "What to do.")
_EXPERIMENT_DIR = flags.DEFINE_string(
    "experiment_dir", "/tmp/lasium_tf/experiment",
    "Checkpoints, TensorBoard logs and results go here; rerun to resume.")
_METHOD = flags.DEFINE_string("method", "MAML",
                              "Row name written into the results JSON.")
_LEARNER = flags.DEFINE_enum("learner", "maml", config_lib.LEARNERS,
                             "Meta-learner.")
_TASK_SOURCE = flags.DEFINE_enum(
    "task_source", "labelled", config_lib.TASK_SOURCES,
    "labelled: supervised tasks from the train split; lasium: tasks from a "
    "generator (--generator); none: no meta-training (the 'training from "
    "scratch' baseline, --mode=evaluate).")
_BACKBONE = flags.DEFINE_enum(
    "backbone", "code", config_lib.BACKBONES,
    "paper: conv+maxpool blocks of the paper's text; code: the stride-2 "
    "network of the authors' code.")
_DATASET = flags.DEFINE_enum(
    "dataset", "omniglot", config_lib.DATASETS,
    "omniglot; mini_imagenet (Ravi split); celeba (identity tasks, Table 2); "
    "celeba_attributes (2-way attribute tasks, Table 3).")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Folder with omniglot/, mini_imagenet/ or celeba/ (or "
    "that folder itself); default $LASIUM_DATA_DIR, then ../shared/data.")
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", None, "Side of the network's square input; default 28 for "
    "Omniglot, 84 for the others.")
_DATA_SOURCE = flags.DEFINE_enum("data_source", "local",
                                 config_lib.DATA_SOURCES,
                                 "local files or tensorflow-datasets.")
_SPLIT = flags.DEFINE_enum(
    "split", None, config_lib.SPLITS,
    "Class split: Omniglot vinyals (default) or authors; mini-ImageNet ravi; "
    "CelebA official.")
_STROKES = flags.DEFINE_enum(
    "strokes", "white", config_lib.STROKES,
    "Omniglot's ink: white strokes on black (the original MAML code) or "
    "black on white (the files as they are, as the LASIUM authors' code).")
_TRAIN_ROTATIONS = flags.DEFINE_bool(
    "train_rotations", config_lib.DataConfig.train_rotations, "Labelled Omniglot meta-training also draws "
    "each train class rotated by 90, 180 and 270 degrees as new classes.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None,
                                 "Decoded-image cache (default user cache).")
_N_WAY = flags.DEFINE_integer("n_way", 5, "Classes per meta-training task.")
_K_SHOT = flags.DEFINE_integer("k_shot", 1, "Support images per class (K_tr).")
_K_QUERY = flags.DEFINE_integer("k_query", 5, "Query images per class (K_val).")
_TASK = config_lib.TaskConfig()
_LASIUM = config_lib.LasiumConfig()
_GENERATIVE = config_lib.GenerativeConfig()
_QUERY_SHIFT = flags.DEFINE_integer(
    "query_shift", _TASK.query_shift, "Shift every meta-training query image by integer "
    "offsets uniform on {-S..S-1} per axis (the authors' pipeline: 5); 0: "
    "none. Test tasks are never shifted.")
_SHIFT_FILL = flags.DEFINE_enum(
    "shift_fill", _TASK.shift_fill, config_lib.SHIFT_FILLS,
    "What a query shift uncovers: the background, or Omniglot's ink value "
    "(the authors' code).")
_RECIPE = flags.DEFINE_enum(
    "recipe", config_lib.Config.recipe, tuple(config_lib.RECIPES),
    "Named settings applied to every flag not given: authors (as the "
    "authors' paper-era code ran), ours (our best: the query shift with a "
    "background fill), none (each flag's default).")
_INNER_LR = flags.DEFINE_float("inner_lr", 0.4, "MAML inner learning rate.")
_INNER_STEPS = flags.DEFINE_integer("inner_steps", 5, "MAML inner steps.")
_FIRST_ORDER = flags.DEFINE_bool("first_order", False, "First-order MAML.")
_META_LR = flags.DEFINE_float("meta_lr", 0.001, "Adam meta learning rate.")
_META_BATCH = flags.DEFINE_integer("meta_batch_size", 4, "Tasks per step.")
_ITERATIONS = flags.DEFINE_integer("iterations", 1000, "Meta-iterations.")
_CHECKPOINT_EVERY = flags.DEFINE_integer("checkpoint_every", 500,
                                         "Meta-iterations between checkpoints.")
_LOG_EVERY = flags.DEFINE_integer("log_every", 50,
                                  "Meta-iterations between log lines.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of weights and training tasks.")
_EVAL_N_WAY = flags.DEFINE_integer("eval_n_way", 5, "Classes per test task.")
_EVAL_K_SHOTS = flags.DEFINE_list("eval_k_shots", ["1", "5"],
                                  "Support images per class at test.")
_EVAL_QUERIES = flags.DEFINE_integer("eval_queries", 15,
                                     "Query images per class at test.")
_EVAL_TASKS = flags.DEFINE_integer("eval_tasks", 1000, "Test tasks.")
_EVAL_STEPS = flags.DEFINE_integer("eval_inner_steps", 50,
                                   "Adaptation steps at test.")
_EVAL_LR = flags.DEFINE_float("eval_inner_lr", None,
                              "Adaptation lr at test (default --inner_lr).")
_EVAL_SEED = flags.DEFINE_integer("eval_seed", 42,
                                  "Seed of the test tasks (same for all runs).")
_EVAL_SPLIT = flags.DEFINE_enum("eval_split", "test", config_lib.EVAL_SPLITS,
                                "Split the test tasks come from.")
_EVAL_PER_CALL = flags.DEFINE_integer("eval_tasks_per_call", 50,
                                      "Test tasks adapted per graph call.")
_BATCHED_TASKS = flags.DEFINE_bool(
    "batched_tasks", config_lib.Config.batched_tasks, "MAML adapts a meta-batch's or an evaluation "
    "call's tasks as one stacked network (grouped convolutions); false: "
    "task by task (the reference path).")
_GENERATOR_TYPE = flags.DEFINE_enum("generator_type", "gan",
                                    config_lib.GENERATOR_KINDS,
                                    "Generative model to train.")
_LATENT_DIM = flags.DEFINE_integer("latent_dim", None,
                                   "Latent size (default 128 GAN, 20 VAE).")
_GEN_EPOCHS = flags.DEFINE_integer("generator_epochs", 500,
                                   "Generator training epochs.")
_GEN_BATCH = flags.DEFINE_integer("generator_batch_size", 128,
                                  "Generator training batch size.")
_GEN_LR = flags.DEFINE_float("generator_lr", None,
                             "Adam lr (default 3e-4 GAN, 1e-3 VAE).")
_GEN_BETA1 = flags.DEFINE_float("generator_beta1", 0.9,
                                "Adam beta_1 of the GAN's two optimizers.")
_MODE_SEEKING = flags.DEFINE_float("mode_seeking_weight", 1.0,
                                   "Weight of the MSGAN term (GAN).")
_SAMPLES_EVERY = flags.DEFINE_integer("samples_every", 5,
                                      "Epochs between sample grids.")
_GAN_GENERATOR_LOSS = flags.DEFINE_enum(
    "gan_generator_loss", _GENERATIVE.generator_loss,
    config_lib.GAN_GENERATOR_LOSSES,
    "GAN generator loss: a cross-entropy per latent batch, summed, or one on "
    "the two batches' summed logits (the authors' code).")
_GAN_FAKE_TARGETS = flags.DEFINE_enum(
    "gan_fake_targets", _GENERATIVE.fake_targets, config_lib.GAN_FAKE_TARGETS,
    "Label noise on the discriminator's fake targets: towards the real label "
    "or beyond the fake label (the authors' code).")
_KEEP_LAST_BATCH = flags.DEFINE_bool(
    "keep_last_batch", _GENERATIVE.keep_last_batch, "Generator training keeps each epoch's last "
    "partial batch (the authors' code) instead of dropping it.")
_GENERATOR = flags.DEFINE_string(
    "generator", None, "LASIUM: a generator SavedModel (pretrained/...), "
    "TF-Hub handle, or generator training folder.")
_POLICY = flags.DEFINE_enum("policy", "ro", config_lib.POLICIES,
                            "LASIUM in-class sampling policy.")
_SIGMA2 = flags.DEFINE_float("sigma2", 0.5, "LASIUM-N noise variance.")
_SIGMA = flags.DEFINE_float(
    "sigma", _LASIUM.sigma, "LASIUM-N noise standard deviation, instead of --sigma2 "
    "(the authors' code ran 0.5 as a standard deviation).")
_SIGMA_MAX = flags.DEFINE_float(
    "sigma_max", None, "If set, LASIUM-N draws each class's noise scale "
    "sigma ~ U(0, sigma_max) instead of --sigma2 (the authors' VAE: 2).")
_ALPHA = flags.DEFINE_float("alpha", 0.2, "LASIUM-RO/-OC interpolation.")
_OC_SIGMA2 = flags.DEFINE_float("oc_sigma2", 1.0,
                                "LASIUM-OC: variance of every N-th sample.")
_ANCHOR_MIN = flags.DEFINE_float(
    "anchor_min_distance", None, "Redraw anchors closer than this (default: "
    "the authors' threshold for a GAN, 0 for a VAE).")
_ANCHOR_REJECTION = flags.DEFINE_enum(
    "anchor_rejection", _LASIUM.anchor_rejection, config_lib.ANCHOR_REJECTIONS,
    "Policies that redraw close anchors: all, n (the authors' later code) or "
    "none (their paper-era code).")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "Where --mode=export (a meta-learned backbone) or "
    "--mode=export_generator writes its SavedModel.")
_RESULTS_FILE = flags.DEFINE_string(
    "results_file", None, "Also write results here ({k_shot} is replaced).")
_TABLE = flags.DEFINE_integer("table", None,
                              "Paper table this run reproduces.")
_STUDY = flags.DEFINE_string(
    "study", None, "Names a series of runs that vary one budget (e.g. "
    "gan_epochs); its results feed the plots, not the paper tables.")


def apply_recipe(name: str) -> None:
  """Sets the recipe's flags that were not given (an explicit flag wins)."""
  for flag, value in config_lib.RECIPES[name].items():
    if not flags.FLAGS[flag].present:
      flags.FLAGS[flag].value = value


def config_from_flags(argv) -> config_lib.Config:
  if flags.FLAGS["sigma"].present and flags.FLAGS["sigma2"].present:
    raise app.UsageError("--sigma (standard deviation) and --sigma2 "
                         "(variance) set the same LASIUM-N noise: give one.")
  apply_recipe(_RECIPE.value)
  try:
    k_shots = tuple(int(k) for k in _EVAL_K_SHOTS.value)
  except ValueError:
    raise app.UsageError(
        f"--eval_k_shots={','.join(_EVAL_K_SHOTS.value)} must be a comma-"
        f"separated list of integers, e.g. 1,5.") from None
  return config_lib.Config(
      experiment_dir=_EXPERIMENT_DIR.value,
      mode=_MODE.value,
      method=_METHOD.value,
      learner=_LEARNER.value,
      task_source=_TASK_SOURCE.value,
      backbone=_BACKBONE.value,
      data=config_lib.DataConfig(
          data_dir=_DATA_DIR.value, source=_DATA_SOURCE.value,
          split=_SPLIT.value, cache_dir=_CACHE_DIR.value,
          dataset=_DATASET.value, image_size=_IMAGE_SIZE.value,
          strokes=_STROKES.value, train_rotations=_TRAIN_ROTATIONS.value),
      task=config_lib.TaskConfig(n_way=_N_WAY.value, k_shot=_K_SHOT.value,
                                 k_query=_K_QUERY.value,
                                 query_shift=_QUERY_SHIFT.value,
                                 shift_fill=_SHIFT_FILL.value),
      maml=config_lib.MAMLConfig(
          inner_lr=_INNER_LR.value, inner_steps=_INNER_STEPS.value,
          first_order=_FIRST_ORDER.value, meta_lr=_META_LR.value,
          meta_batch_size=_META_BATCH.value),
      eval=config_lib.EvalConfig(
          n_way=_EVAL_N_WAY.value, k_shots=k_shots,
          k_query=_EVAL_QUERIES.value, num_tasks=_EVAL_TASKS.value,
          inner_steps=_EVAL_STEPS.value, inner_lr=_EVAL_LR.value,
          seed=_EVAL_SEED.value, split=_EVAL_SPLIT.value,
          tasks_per_call=_EVAL_PER_CALL.value),
      generative=config_lib.GenerativeConfig(
          kind=_GENERATOR_TYPE.value, latent_dim=_LATENT_DIM.value,
          epochs=_GEN_EPOCHS.value, batch_size=_GEN_BATCH.value,
          learning_rate=_GEN_LR.value, adam_beta1=_GEN_BETA1.value,
          mode_seeking_weight=_MODE_SEEKING.value,
          samples_every=_SAMPLES_EVERY.value, seed=_SEED.value,
          generator_loss=_GAN_GENERATOR_LOSS.value,
          fake_targets=_GAN_FAKE_TARGETS.value,
          keep_last_batch=_KEEP_LAST_BATCH.value),
      lasium=config_lib.LasiumConfig(
          generator=_GENERATOR.value, policy=_POLICY.value,
          sigma2=_SIGMA2.value, sigma=_SIGMA.value,
          sigma_max=_SIGMA_MAX.value, alpha=_ALPHA.value,
          oc_sigma2=_OC_SIGMA2.value,
          anchor_min_distance=_ANCHOR_MIN.value,
          anchor_rejection=_ANCHOR_REJECTION.value),
      export_dir=_EXPORT_DIR.value,
      iterations=_ITERATIONS.value,
      checkpoint_every=_CHECKPOINT_EVERY.value,
      log_every=_LOG_EVERY.value,
      seed=_SEED.value,
      results_file=_RESULTS_FILE.value,
      table=_TABLE.value,
      study=_STUDY.value,
      recipe=_RECIPE.value,
      batched_tasks=_BATCHED_TASKS.value,
      command=" ".join(shlex.quote(a) for a in ["python", "-m",
                                                 "lasium_tf.main"] + argv[1:]),
  )


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  # Imported here: TensorFlow loads slowly.
  from lasium_tf import modes, stopping
  from lasium_tf.data import DataError

  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Hide TensorFlow's INFO lines.
  config = config_from_flags(sys.argv)
  try:
    modes.run(config)
  except (config_lib.ConfigError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except stopping.Stopped as e:
    print(str(e), file=sys.stderr)
    sys.exit(128 + e.signal_number)  # The shell's code for that signal.


if __name__ == "__main__":
  app.run(main)
