"""The experiment: meta-train, checkpoint, evaluate, write results.

`run(config)` is the whole program behind `python -m lasium_tf.main`; the
outer loop is `meta_train` below, visible in one place: draw a meta-batch of
tasks from tf.data, take one `meta_step`, log, checkpoint. Rerunning the same
command resumes from the newest checkpoint in `experiment_dir` on the same
task stream (tasks are pure functions of seed and index).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import re
import subprocess
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from lasium_tf import augment, gan_objective
from lasium_tf.config import (Config, ConfigError, EvalConfig,
                              shift_fill_value, white_strokes)
from lasium_tf.data import load_parts
from lasium_tf.files import atomic_write
from lasium_tf.maml import MAML
from lasium_tf.protonets import ProtoNets
from lasium_tf.progress import Progress
from models.backbone import build_backbone, build_classifier

def image_shape(config: Config):
  return config.data.image_shape


def shift_fill(config: Config) -> float:
  """The pixel value the meta-training query shift uncovers."""
  return shift_fill_value(config.data.dataset, config.data.strokes,
                          config.task.shift_fill)


def build_learner(config: Config):
  """The configured backbone in its learner: MAML (with a head) or ProtoNets."""
  backbone = build_backbone(config.backbone, image_shape(config),
                            seed=config.seed)
  if config.learner == "protonets":
    return ProtoNets(backbone, meta_lr=config.maml.meta_lr)
  model = build_classifier(backbone, config.task.n_way, seed=config.seed)
  return MAML(model, inner_lr=config.maml.inner_lr,
              inner_steps=config.maml.inner_steps,
              first_order=config.maml.first_order,
              meta_lr=config.maml.meta_lr,
              eval_inner_lr=config.eval.inner_lr,
              eval_inner_steps=config.eval.inner_steps,
              batched=config.batched_tasks)


def checkpoint_manager(learner, directory: str):
  step = tf.Variable(0, dtype=tf.int64, name="step")
  checkpoint = tf.train.Checkpoint(model=learner.model,
                                   optimizer=learner.optimizer, step=step)
  manager = tf.train.CheckpointManager(
      checkpoint, os.path.join(directory, "checkpoints"), max_to_keep=3)
  return manager, step


def meta_train(learner, tasks: tf.data.Dataset, iterations: int,
               experiment_dir: str, checkpoint_every: int = 500,
               log_every: int = 50, start_step: int = 0,
               manager=None, step=None, verbose: bool = True) -> Dict:
  """The outer loop: `iterations - start_step` meta-steps on `tasks`.

  Args:
    learner: the MAML learner (its model and optimizer are checkpointed).
    tasks: batched Episodes, the first one being meta-batch `start_step`.
    iterations: the total number of meta-steps to reach.
    manager, step: a CheckpointManager and its step variable.

  Returns:
    The mean loss and accuracy of the last `log_every` steps and the seconds
    spent in this call.
  """
  writer = tf.summary.create_file_writer(
      os.path.join(experiment_dir, "tensorboard"))
  progbar = Progress(iterations, "meta-train", verbose)
  start = time.perf_counter()
  window: List[Dict[str, float]] = []
  current = start_step
  try:
    for episodes in tasks.take(iterations - start_step):
      metrics = {k: float(v) for k, v in learner.meta_step(episodes).items()}
      current += 1
      window = (window + [metrics])[-log_every:]
      if step is not None:
        step.assign(current)
      if current % log_every == 0 or current == iterations:
        mean = {k: float(np.mean([m[k] for m in window])) for k in metrics}
        with writer.as_default(step=current):
          for name, value in mean.items():
            tf.summary.scalar(f"meta_train/{name}", value)
        progbar.update(current, list(mean.items()))
      if manager is not None and (current % checkpoint_every == 0
                                  or current == iterations):
        manager.save(checkpoint_number=current)
  except KeyboardInterrupt:
    if manager is not None and current > start_step:
      manager.save(checkpoint_number=current)  # Rerunning resumes here.
    raise
  writer.flush()
  last = ({k: float(np.mean([m[k] for m in window])) for k in window[0]}
          if window else {})
  return {"seconds": time.perf_counter() - start, **last}


def mean_and_ci95(accuracies: np.ndarray):
  """Mean accuracy and the half-width 1.96 * std / sqrt(n), in percent."""
  accuracies = np.asarray(accuracies, dtype=np.float64) * 100.0
  return (float(accuracies.mean()),
          float(1.96 * accuracies.std() / np.sqrt(len(accuracies))))


def evaluate(learner, task_source, eval_config: EvalConfig,
             k_shot: int, verbose: bool = True) -> Dict:
  """Accuracy on `num_tasks` real tasks of the seed's fixed sequence.

  `task_source` is a data part from `lasium_tf.data.load_parts` (anything
  with `episodes(n_way, k_shot, k_query, seed, start, count)`).
  """
  tasks = task_source.episodes(
      eval_config.n_way, k_shot, eval_config.k_query,
      seed=eval_config.seed, count=eval_config.num_tasks)
  tasks = tasks.batch(eval_config.tasks_per_call).prefetch(1)
  progbar = Progress(eval_config.num_tasks, f"evaluate {k_shot}-shot",
                     verbose)
  start = time.perf_counter()
  accuracies = []
  for batch in tasks:
    accuracies.append(learner.evaluate(batch).numpy())
    done = sum(len(a) for a in accuracies)
    progbar.update(done, [("accuracy", float(np.concatenate(accuracies).mean()))])
  accuracies = np.concatenate(accuracies)
  mean, ci95 = mean_and_ci95(accuracies)
  return {"accuracy": mean, "ci95": ci95, "num_tasks": len(accuracies),
          "seconds": time.perf_counter() - start,
          "path": ("batched" if getattr(learner, "batched", None) is not None
                   else "per_task"),
          "task_accuracies": accuracies}


def _git(*args) -> Optional[str]:
  try:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True,
        cwd=pathlib.Path(__file__).resolve().parent, check=True,
        timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None


def code_version() -> Dict:
  """The commit the running code came from, and whether it had edits.

  Read when a run starts (the code a run executes is what was imported
  then), so later commits during a long run do not mislabel its results.
  """
  status = _git("status", "--porcelain", "--untracked-files=no")
  return {"git_commit": _git("rev-parse", "HEAD"),
          "git_dirty": None if status is None else bool(status)}


_CODE_VERSION = code_version()


def write_json(path: str, record: Dict) -> None:
  atomic_write(pathlib.Path(path), lambda f: f.write(
      (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()))


def result_paths(config: Config, k_shot: int) -> List[str]:
  """experiment_dir/results_Kshot.json, plus --results_file (with {k_shot})."""
  paths = [os.path.join(config.experiment_dir, f"results_{k_shot}shot.json")]
  if config.results_file:
    template = config.results_file
    if "{k_shot}" not in template:
      stem, ext = os.path.splitext(template)
      template = f"{stem}_{{k_shot}}shot{ext or '.json'}"
    paths.append(template.format(k_shot=k_shot))
  return paths


def _check_against_data(config: Config, parts: Dict):
  name = f"the {config.data.dataset} {config.data.resolved_split} split's"
  if "train" in parts and config.task_source == "labelled":
    try:
      parts["train"].check(config.task.n_way, config.task.k_shot,
                           config.task.k_query, f"{name} train part")
    except ValueError as e:
      raise ConfigError(str(e)) from None
  if config.eval.split in parts:
    for k in config.eval.k_shots:
      try:
        parts[config.eval.split].check(config.eval.n_way, k,
                                       config.eval.k_query,
                                       f"{name} {config.eval.split} part")
      except ValueError as e:
        raise ConfigError(str(e)) from None


def _parts_needed(config: Config):
  """The data parts this run reads: training tasks, VAE anchors, test tasks."""
  training = (config.mode in ("train", "train_and_evaluate")
              and config.task_source != "none")
  parts = []
  if training and (config.task_source == "labelled"
                   or config.data.dataset == "omniglot"):
    parts.append("train")
  if config.mode in ("evaluate", "train_and_evaluate"):
    parts.append(config.eval.split)
  return list(dict.fromkeys(parts))


def run(config: Config, verbose: bool = True) -> Dict:
  """Meta-trains and/or evaluates as configured; returns the results.

  Writes checkpoints, TensorBoard logs, `config.json` and one results JSON per
  evaluated shot into `config.experiment_dir`.
  """
  config.validate()
  if config.mode == "train_generator":
    return train_generator(config, verbose)
  if config.mode == "export_generator":
    return export_generator(config, verbose)
  if config.mode == "draw_tasks":
    return draw_tasks(config, verbose)
  parts = load_parts(config.data, _parts_needed(config), verbose)
  if config.data.train_rotations and "train" in parts:
    parts["train"] = parts["train"].with_rotations()
  _check_against_data(config, parts)

  os.makedirs(config.experiment_dir, exist_ok=True)
  learner = build_learner(config)
  manager, step = checkpoint_manager(learner, config.experiment_dir)
  if manager.latest_checkpoint:
    _check_resume(config)
  config_path = os.path.join(config.experiment_dir, "config.json")
  if config.mode in ("train", "train_and_evaluate") or not os.path.exists(
      config_path):  # Evaluating or exporting keeps the training record.
    write_json(config_path, dataclasses.asdict(config))
  if manager.latest_checkpoint:
    manager.checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    if verbose:
      print(f"Resumed from {manager.latest_checkpoint} "
            f"(meta-iteration {int(step)}).", flush=True)
  elif config.mode in ("evaluate", "export") and config.task_source != "none":
    raise ConfigError(
        f"--mode={config.mode} found no checkpoint under {config.experiment_dir}/"
        f"checkpoints; train first (--mode=train) or point --experiment_dir "
        f"at a trained experiment.")

  if config.mode == "export":
    from lasium_tf import export  # Only this mode needs it.
    path = export.export(learner, config.export_dir, image_shape(config),
                         _export_card(config, int(step)))
    if verbose:
      print(f"Exported the {config.learner} learner at meta-iteration "
            f"{int(step)} to {path}.", flush=True)
    return {"path": str(path), "meta_iterations": int(step)}

  training = {}
  generator_info = None
  if config.mode != "evaluate" and int(step) < config.iterations:
    start = int(step)
    if config.task_source == "lasium":
      sampler, generator_info = lasium_sampler(config, parts.get("train"))
      _check_generator(config.experiment_dir, generator_info)
      tasks = sampler.meta_batches(config.seed, config.maml.meta_batch_size,
                                   start_batch=start)
    else:
      first = start * config.maml.meta_batch_size
      tasks = parts["train"].episodes(
          config.task.n_way, config.task.k_shot, config.task.k_query,
          seed=config.seed, start=first)
      tasks = augment.shift_query_stream(
          tasks, config.seed, first, config.task.query_shift,
          shift_fill(config))
      tasks = tasks.batch(config.maml.meta_batch_size,
                          drop_remainder=True).prefetch(2)
    if verbose:
      print(f"Meta-training {config.iterations - start} iterations "
            f"({start} done) on {config.task_source} tasks.", flush=True)
    training = meta_train(learner, tasks, config.iterations,
                          config.experiment_dir, config.checkpoint_every,
                          config.log_every, start, manager, step, verbose)
  train_seconds = _accumulate_seconds(config.experiment_dir,
                                      training.get("seconds", 0.0))
  if generator_info is None and config.task_source == "lasium":
    generator_info = _saved_generator(config.experiment_dir)

  results = {}
  if config.mode != "train":
    for k_shot in config.eval.k_shots:
      if verbose:
        print(f"Evaluating {config.eval.num_tasks} {config.eval.n_way}-way "
              f"{k_shot}-shot tasks ({config.eval.split} split).", flush=True)
      outcome = evaluate(learner, parts[config.eval.split], config.eval,
                         k_shot, verbose)
      record = _result_record(config, k_shot, outcome, int(step),
                              train_seconds, generator_info)
      for path in result_paths(config, k_shot):
        write_json(path, record)
      if verbose:
        print(f"{config.method}: {k_shot}-shot accuracy "
              f"{record['accuracy']:.2f} +- {record['ci95']:.2f}%", flush=True)
      results[k_shot] = record
  return {"training": training, "results": results,
          "meta_iterations": int(step)}


def _export_card(config: Config, meta_iterations: int) -> Dict:
  """What an exported backbone is: its training command, budget, accuracy.

  The accuracy is the training run's own results (`results_Kshot.json` in
  the experiment folder) at the exported meta-iteration, where there are any.
  """
  trained = {}
  path = os.path.join(config.experiment_dir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      trained = json.load(f)
  results = []
  for name in sorted(os.listdir(config.experiment_dir)):
    if re.fullmatch(r"results_\d+shot\.json", name):
      with open(os.path.join(config.experiment_dir, name)) as f:
        record = json.load(f)
      if record.get("budget", {}).get("meta_iterations") == meta_iterations:
        results.append({k: record[k] for k in (
            "n_way", "k_shot", "accuracy", "ci95", "num_tasks")})
  return {"method": config.method, "learner": config.learner,
          "backbone": config.backbone, "recipe": config.recipe,
          "meta_iterations": meta_iterations,
          "train_command": trained.get("command", config.command),
          "export_command": config.command,
          "results": sorted(results, key=lambda r: r["k_shot"]),
          "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
              timespec="seconds"), **_CODE_VERSION}


# What a checkpoint was trained on; a resumed run must not change it.
_RESUME_KEYS = ("task_source", "learner", "backbone", "task", "maml", "lasium",
                "seed")


def _check_resume(config: Config) -> None:
  """Refuses to resume (or evaluate) a checkpoint under other training flags."""
  path = os.path.join(config.experiment_dir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = json.load(f)
  now = json.loads(json.dumps(dataclasses.asdict(config)))
  defaults = json.loads(json.dumps(dataclasses.asdict(Config())))
  # Settings added since a config.json was written held their defaults then.
  saved = {k: ({**defaults[k], **v} if isinstance(v, dict)
               and isinstance(defaults.get(k), dict) else v)
           for k, v in saved.items()}
  changed = [k for k in _RESUME_KEYS if k in saved and saved[k] != now[k]]
  saved_data = {"strokes": "white", **saved.get("data", {})}
  old_data = dataclasses.replace(config.data, **{
      k: v for k, v in saved_data.items()
      if k in ("dataset", "split", "image_size", "strokes",
               "train_rotations")})
  for key in ("dataset", "resolved_split", "resolved_image_size", "strokes",
              "train_rotations"):
    if getattr(old_data, key) != getattr(config.data, key):
      changed.append(f"data.{key.replace('resolved_', '')}")
  if changed:
    raise ConfigError(
        f"{config.experiment_dir} holds a checkpoint trained with other "
        f"settings ({', '.join(changed)} differ from its config.json); "
        f"use a fresh --experiment_dir, or the flags it was trained with.")


def _saved_generator(experiment_dir: str) -> Optional[Dict]:
  path = os.path.join(experiment_dir, "generator.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _check_generator(experiment_dir: str, info: Dict) -> None:
  """Records the generator a run trains on; refuses a different one later.

  A generator path (pretrained/omniglot_gan) can be republished with other
  weights; resuming on those would mix two generators in one result.
  """
  saved = _saved_generator(experiment_dir)
  info = json.loads(json.dumps(info))
  if saved is None:
    write_json(os.path.join(experiment_dir, "generator.json"), info)
  elif saved != info:
    raise ConfigError(
        f"{experiment_dir} was meta-trained on another generator "
        f"({saved.get('source')}, {saved.get('epochs')} epochs, dated "
        f"{saved.get('date')}) than --generator gives now "
        f"({info.get('source')}, {info.get('epochs')} epochs, dated "
        f"{info.get('date')}); use a fresh --experiment_dir.")


def lasium_sampler(config: Config, train_images=None):
  """The configured LASIUM task source and what is known of its generator.

  `train_images` (Omniglot's train part) gives a VAE its real anchor images;
  a GAN needs none.
  """
  from lasium_tf import generative, lasium  # Only LASIUM runs need them.

  generator, info = generative.load_generator(config.lasium.generator)
  generator, info = _match_strokes(generator, info, config.data)
  kind = info["kind"]
  if kind == "vae" and train_images is None:
    raise ConfigError(
        f"a VAE's anchors are encoded real images, which this project keeps "
        f"for Omniglot only; use a GAN generator for {config.data.dataset}.")
  sampler = lasium.LasiumSampler(
      generator, kind, config.lasium.policy,
      lasium.TaskShape(config.task.n_way, config.task.k_shot,
                       config.task.k_query),
      config.lasium.policy_hyperparameters(),
      config.lasium.resolved_min_distance, config.lasium.max_anchor_tries,
      real_images=train_images.unlabeled() if kind == "vae" else None,
      query_shift=config.task.query_shift, shift_fill=shift_fill(config))
  return sampler, info


def _match_strokes(generator, info: Dict, data):
  """Swaps an Omniglot generator's ink when it was trained on the other one.

  Generators trained before `--strokes` existed drew white strokes.
  """
  from lasium_tf import generators

  trained_on = info.get("strokes", "white")
  if data.dataset != "omniglot" or trained_on == data.strokes:
    return generator, info
  return generators.InkSwapped(generator), {
      **info, "ink_swapped": f"trained on {trained_on} strokes, "
                             f"used with {data.strokes}"}


def export_generator(config: Config, verbose: bool = True) -> Dict:
  """Publishes the generator of a training folder as a hub.load SavedModel.

  Writes `export_dir` with the `generate` (and, for a VAE, `encode`)
  signatures, `samples.png` (8x8 prior samples), `card.json` and a README
  card saying how it was trained.
  """
  from lasium_tf import generative, generators, pictures

  model, gen_config, epoch, train_command = generative.restore(
      config.experiment_dir)
  generator = generative.as_generator(model)
  path = generators.export_generator(generator.decoder, config.export_dir,
                                     generator.encoder)
  z = tf.random.stateless_normal([64, generator.latent_dim], [config.seed, 7])
  with open(os.path.join(config.experiment_dir, "config.json")) as f:
    trained = json.load(f)
  strokes = trained["data"].get("strokes", "white")
  white = white_strokes(generator.decode(z).numpy(), strokes)
  pictures.save_png(path / "samples.png",
                    pictures.grid(white.reshape((8, 8) + white.shape[1:])))
  card = {"kind": gen_config.kind, "latent_dim": generator.latent_dim,
          "epochs": epoch, "planned_epochs": gen_config.epochs,
          "split": trained["data"]["split"] or "vinyals",
          "strokes": strokes,
          "stripe_score": round(gan_objective.stripe_score(white), 3),
          "train_images": "unlabeled images of the train split",
          "trainer": trained.get("trainer", "lasium_tf.generative (TensorFlow)"),
          "train_command": train_command, "export_command": config.command,
          "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
              timespec="seconds")}
  write_json(str(path / "card.json"), card)
  size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
  readme = _GENERATOR_CARD.format(
      kind=gen_config.kind.upper(), epochs=epoch,
      planned=gen_config.epochs, split=card["split"],
      latent=generator.latent_dim, train_command=train_command,
      export_command=config.command, size=size / 2**20,
      trainer=card["trainer"],
      ink=("strokes 0 on a 1 background" if card["strokes"] == "black"
           else "strokes 1 on a 0 background"),
      encode=("\n- `encode(images: float32[batch, 28, 28, 1])` -> "
              "`{\"mean\", \"log_var\"}`: the posterior (VAE anchors)."
              if generator.encoder is not None else ""),
      name=path.name)
  (path / "README.md").write_text(readme)
  if verbose:
    print(f"Exported the {gen_config.kind.upper()} at epoch {epoch} to "
          f"{path} ({size / 2**20:.1f} MiB).", flush=True)
  return {"path": str(path), **card}


_GENERATOR_CARD = """# Omniglot {kind} for LASIUM ({name})

- Trained {epochs} epochs (of {planned} planned) on the unlabeled images of
  the {split} train split: no labels were used.
- Trained by {trainer}.
- Train command: `{train_command}`
- Export command: `{export_command}`
- Size on disk: {size:.1f} MiB.

## Signatures (load with `hub.load`, no lasium_tf code needed)
- `generate(z: float32[batch, {latent}])` -> `{{"default": float32[batch, 28,
  28, 1]}}`: images in [0, 1], {ink}.{encode}

```python
import tensorflow as tf, tensorflow_hub as hub
module = hub.load("pretrained/{name}")
images = module.signatures["generate"](z=tf.random.normal([16, {latent}]))["default"]
```

Prior samples (strokes drawn black):

![samples](samples.png)
"""


def draw_tasks(config: Config, verbose: bool = True) -> Dict:
  """One task per LASIUM policy side by side (the paper's Figures 1 and 2),
  and interpolation strips showing what alpha means for RO and OC."""
  from lasium_tf import pictures

  # Pictures draw strokes dark from white-stroke arrays, whatever --strokes.
  config = dataclasses.replace(
      config, data=dataclasses.replace(config.data, strokes="white"))
  train_images = (load_parts(config.data, ["train"], verbose)["train"]
                  if config.data.dataset == "omniglot" else None)
  paths = {}
  sampler, info = lasium_sampler(config, train_images)
  hyperparameters = {
      p: dataclasses.replace(config.lasium, policy=p).policy_hyperparameters()
      for p in ("n", "ro", "oc")}
  figure = os.path.join(config.experiment_dir,
                        f"lasium_tasks_{info['kind']}.png")
  pictures.save_png(figure, pictures.policy_tasks_picture(
      sampler, hyperparameters, config.seed))
  paths["figure"] = figure
  strips = os.path.join(config.experiment_dir,
                        f"interpolation_{info['kind']}.png")
  pictures.save_png(strips, pictures.anchor_interpolations(
      sampler.generator, config.seed,
      train_images.unlabeled() if info["kind"] == "vae" else None))
  paths["interpolation"] = strips
  if verbose:
    print(f"Wrote {figure}: LASIUM-N, -RO and -OC tasks from left to right, "
          f"a column per class, {config.task.k_shot} support row(s) above "
          f"{config.task.k_query} query rows.", flush=True)
    print(f"Wrote {strips}: z + alpha (v - z) for alpha 0, 1/8, ..., 1; the "
          f"top two rows towards random vectors (RO), the bottom two towards "
          f"another anchor (OC).", flush=True)
  return paths


def train_generator(config: Config, verbose: bool = True) -> Dict:
  """Trains the configured GAN or VAE on the train split's images, unlabeled."""
  from lasium_tf import generative  # Only this mode needs it.

  images = load_parts(config.data, ["train"], verbose)["train"].unlabeled()
  os.makedirs(config.experiment_dir, exist_ok=True)
  write_json(os.path.join(config.experiment_dir, "config.json"),
             dataclasses.asdict(config))
  if verbose:
    print(f"Training the {config.generative.kind.upper()} on {len(images)} "
          f"unlabeled images of the {config.data.resolved_split} train split for "
          f"{config.generative.epochs} epochs.", flush=True)
  model = generative.build(config.generative, config.data.resolved_image_size)
  return generative.train(model, images, config.generative,
                          config.experiment_dir, verbose, config.data.strokes)


def _accumulate_seconds(experiment_dir: str, seconds: float) -> float:
  """Total meta-training wall time across resumed runs (kept in a small file)."""
  path = pathlib.Path(experiment_dir) / "train_seconds.txt"
  total = seconds
  if path.exists():
    try:
      total += float(path.read_text())
    except ValueError:
      pass
  if seconds:
    atomic_write(path, lambda f: f.write(f"{total}\n".encode()))
  return total


def noise_std(lasium_config) -> float:
  """LASIUM-N's noise standard deviation, however it was given."""
  if lasium_config.sigma is not None:
    return lasium_config.sigma
  return round(float(np.sqrt(lasium_config.sigma2)), 6)


def _result_record(config: Config, k_shot: int, outcome: Dict,
                   meta_iterations: int, train_seconds: float,
                   generator_info: Optional[Dict] = None) -> Dict:
  lasium_hyperparameters = {}
  if config.task_source == "lasium":
    lasium_hyperparameters = {
        "policy": config.lasium.policy,
        **config.lasium.policy_hyperparameters(),
        **({"sigma": noise_std(config.lasium)}
           if config.lasium.policy == "n" and config.lasium.sigma_max is None
           else {}),
        "anchor_rejection": config.lasium.anchor_rejection,
        "generator": config.lasium.generator,
        "generator_info": generator_info,
    }
  return {
      "method": config.method,
      "dataset": config.data.dataset,
      "n_way": config.eval.n_way,
      "k_shot": k_shot,
      "k_query": config.eval.k_query,
      "num_tasks": outcome["num_tasks"],
      "accuracy": round(outcome["accuracy"], 2),
      "ci95": round(outcome["ci95"], 2),
      "command": config.command,
      "budget": {
          "meta_iterations": meta_iterations,
          "meta_batch_size": config.maml.meta_batch_size,
          "meta_train_seconds": round(train_seconds, 1),
          "eval_tasks": outcome["num_tasks"],
          "eval_adaptation_steps": config.eval.inner_steps,
          "eval_seconds": round(outcome["seconds"], 1),
          "eval_path": outcome.get("path", "per_task"),
      },
      "hyperparameters": {
          "backbone": config.backbone, "split": config.data.resolved_split,
          **({"strokes": config.data.strokes}
             if config.data.dataset == "omniglot" else {}),
          **({"train_rotations": True} if config.data.train_rotations
             else {}),
          "learner": config.learner,
          "recipe": config.recipe,
          "train_task": dataclasses.asdict(config.task),
          "maml": dataclasses.asdict(config.maml),
          "eval_inner_lr": config.eval.inner_lr or config.maml.inner_lr,
          "eval_seed": config.eval.seed, "seed": config.seed,
          **lasium_hyperparameters,
      },
      **({"table": config.table} if config.table is not None else {}),
      **({"study": config.study} if config.study is not None else {}),
      "config": dataclasses.asdict(config),
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      **_CODE_VERSION,
  }
