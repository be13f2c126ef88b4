"""Which images must give a MAML query its BatchNorm statistics?

A MAML network answers a query better when the query batch gives BatchNorm
its statistics (transductive, the paper's protocol) than when the support
set does (one image at a time, `--normalization=support` or TaskNorm-I;
Bronskill et al., "TaskNorm", ICML 2020). This scores one published MAML
classifier on the same tasks with the queries normalised by different sets
of images, to tell apart two explanations of the gap:

  queries         the task's own 75 queries (transductive);
  support         the support set (what the classifier answers one image at
                  a time);
  other_queries   the 75 queries of the next task of the batch: as many
                  images as the queries, of other characters. If the gap
                  were the support set's few images (noisy statistics),
                  this would close it;
  shifted_support the support set and 15 copies of each support image,
                  each shifted by up to 3 pixels (the meta-training query
                  shift's kind of change): as many images as the queries,
                  of the task's own characters, from its support drawings
                  only. Answers one image at a time;
  augmented       adapts on that enlarged support set too (test-time
                  augmentation of the support set), then normalises with it.

The copies' offsets are drawn for every image of the batch of tasks, so
each task gets its own; the library's `--eval_support_copies`
(`tasks.augment.enlarge_support`) draws them once, the same for every task,
so that an export answers as the evaluation does. The two measured +0.85
and +0.56 on the same validation tasks (docs/normalization.md).

With a TaskNorm-I network, each set is the context its layers blend with
each image's own moments. Every variant adapts on the same tasks and is
paired with `support`: the gain's interval is of the paired differences.

  python scripts/query_statistics.py --flagfile=FLAGFILE --init_from=FOLDER \
      [--eval_split=val] [--eval_tasks=500] [--eval_k_shots=1]

FLAGFILE is the one that trained FOLDER (its card's train_command); any
other flag is passed on. Prints one line per variant. Run from the
repository root; about 1 minute per 100 1-shot tasks for the variants
without `augmented` on 2 CPU cores, 6 with it.
"""

import sys
import time

import numpy as np
import tensorflow as tf

VARIANTS = ("support", "queries", "other_queries", "shifted_support",
            "augmented")
COPIES, MAX_SHIFT = 15, 3


def _accuracy(logits, labels):
  return tf.reduce_mean(tf.cast(tf.equal(
      tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32), 1)


def scorer(learner, fill: float):
  """A function of a batch of episodes: each variant's per-task accuracy."""
  from lasium_tf.tasks.augment import random_offsets, shift_images

  net, norm = learner.batched, learner.normalization

  def enlarged(ep):
    copies = tf.repeat(ep.support_images, COPIES, axis=1)
    flat = tf.reshape(copies, tf.concat([[-1], tf.shape(copies)[2:]], 0))
    offsets = random_offsets(tf.shape(flat)[0], MAX_SHIFT,
                             tf.constant([7, 11]))
    copies = tf.reshape(shift_images(flat, offsets, fill), tf.shape(copies))
    return (tf.concat([ep.support_images, copies], 1),
            tf.concat([ep.support_labels,
                       tf.repeat(ep.support_labels, COPIES, axis=1)], 1))

  def adapt(images, labels):
    return learner.adapt_tasks(images, labels, learner.eval_inner_steps,
                               learner.eval_inner_lr)

  @tf.function
  def score(ep):
    weights = adapt(ep.support_images, ep.support_labels)
    images, labels = enlarged(ep)
    contexts = {"support": ep.support_images, "queries": ep.query_images,
                "other_queries": tf.roll(ep.query_images, 1, axis=0),
                "shifted_support": images}
    out = {name: _accuracy(net.forward(weights, ep.query_images, context,
                                       norm), ep.query_labels)
           for name, context in contexts.items()}
    out["augmented"] = _accuracy(net.forward(
        adapt(images, labels), ep.query_images, images, norm),
                                 ep.query_labels)
    return out

  return score


def main(argv):
  from lasium_tf.config.cli import config_from_args
  from lasium_tf.data import load_parts
  from lasium_tf.learners import build_learner
  from lasium_tf.run.checkpoints import load_published
  from lasium_tf.run.evaluation import mean_and_ci95

  config = config_from_args(["--mode=evaluate", *argv[1:]])
  if not config.init_from:
    raise SystemExit("give --init_from=FOLDER, a published MAML classifier, "
                     "and the --flagfile that trained it.")
  learner = build_learner(config)
  if getattr(learner, "batched", None) is None:
    raise SystemExit(f"--learner={config.learner} has no stacked MAML "
                     f"network (lasium_tf.learners.batched) to adapt; give "
                     f"a MAML classifier's flagfile.")
  load_published(learner, config.init_from)
  part = load_parts(config.data, [config.eval.split], False)[
      config.eval.split]
  score = scorer(learner, float(config.resolved_shift_fill))
  print(f"{config.init_from} ({learner.normalization}), "
        f"{config.eval.num_tasks} {config.eval.n_way}-way tasks of the "
        f"{config.eval.split} split, seed {config.eval.seed}", flush=True)
  for k_shot in config.eval.k_shots:
    start = time.perf_counter()
    tasks = part.episodes(config.eval.n_way, k_shot, config.eval.k_query,
                          seed=config.eval.seed,
                          count=config.eval.num_tasks)
    results = {name: [] for name in VARIANTS}
    for batch in tasks.batch(config.eval.tasks_per_call):
      for name, value in score(batch).items():
        results[name].append(value.numpy())
    results = {k: np.concatenate(v) for k, v in results.items()}
    print(f"{k_shot}-shot ({time.perf_counter() - start:.0f} s):")
    for name in VARIANTS:
      mean, ci95 = mean_and_ci95(results[name])
      gain, gain_ci95 = mean_and_ci95(results[name] - results["support"])
      print(f"  {name:16s} {mean:6.2f} +- {ci95:.2f}   against support "
            f"{gain:+.2f} +- {gain_ci95:.2f}", flush=True)


if __name__ == "__main__":
  main(sys.argv)
