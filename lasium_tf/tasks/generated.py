"""LASIUM's tasks: decoded from a generator's latent space
(`lasium_tf.tasks.lasium`).

Khodadadeh et al., ICLR 2021, Section 3. This module loads the configured
generator (refusing one whose images do not fit the network) and wraps
`lasium.LasiumSampler` as a task source; the policies and the sampling live
in `lasium_tf.tasks.lasium`.
"""

from __future__ import annotations

from typing import Dict, Optional

from lasium_tf import lazy
from lasium_tf.config import ConfigError, LasiumConfig
from lasium_tf.tasks import SOURCES, TaskSource, TaskSourceKind

tf = lazy.module("tensorflow")


class GeneratedTasks(TaskSource):
  """A LASIUM sampler as a task source; its replicas decode their own tasks
  under tf.distribute (the generator runs on each replica's device)."""

  makes_tasks_on_replica = True

  def __init__(self, sampler, identity: Dict):
    self.sampler = sampler
    self.identity = identity

  def stream(self, seed: int, start: int):
    import numpy as np

    def make(index):
      return self.sampler.episode(seed, index)

    return tf.data.Dataset.range(start, np.iinfo(np.int64).max).map(make)

  def meta_batches(self, seed: int, meta_batch_size: int,
                   start_batch: int = 0):
    return self.sampler.meta_batches(seed, meta_batch_size, start_batch)

  def episodes(self, seed: int, first: int, count: int):
    return self.sampler.episodes(seed, first, count)


def needs_train_part(config) -> bool:
  """A VAE's anchors are encoded train images, which Omniglot and a folder
  with --data_dir have; a GAN needs none (the other data sets' TF-Hub
  generators)."""
  kind = config.data.kind
  return kind.trains_generators and (not kind.train_folder
                                     or bool(config.data.data_dir))


def build(config, parts: Dict) -> GeneratedTasks:
  sampler, info = lasium_sampler(config, parts.get("train"))
  return GeneratedTasks(sampler, info)


def lasium_sampler(config, train_images=None):
  """The configured LASIUM sampler and what is known of its generator.

  `train_images` (Omniglot's train part) gives a VAE its real anchor images;
  a GAN needs none.
  """
  from lasium_tf import generators
  from lasium_tf.tasks import lasium

  try:
    generator, info = generators.load_generator(config.lasium.generator)
  except ConfigError:
    raise
  except (OSError, ValueError) as e:  # FileNotFoundError is an OSError.
    raise ConfigError(f"--generator={config.lasium.generator}: {e}") from None
  except Exception as e:  # pylint: disable=broad-except
    raise damaged(config.lasium.generator, e) from None
  kind = generators.KINDS.get(info["kind"])
  if kind.anchors is None:
    raise ConfigError(
        f"--generator={config.lasium.generator} is an {kind.display}, an "
        f"encoder for --task_source=cactus or the embedding baselines "
        f"(--cactus_encoder, --baseline_encoder); LASIUM needs a GAN or a "
        f"VAE.")
  if config.lasium.decode_precision == "bfloat16":
    try:
      generator = generators.in_bfloat16(generator, info)
    except ValueError as e:
      raise ConfigError(f"--decode_precision=bfloat16: {e}") from None
    info = {**info, "decode_precision": "bfloat16"}
  generator, info = generators.match_strokes(generator, info, config.data)
  try:
    check_generator_shape(generator, config)
  except ConfigError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise damaged(config.lasium.generator, e) from None
  if kind.anchors_from_images and train_images is None:
    raise ConfigError(
        f"a VAE's anchors are encoded real images, which this project keeps "
        f"for Omniglot and your own folder (--dataset=folder with "
        f"--data_dir) only; use a GAN generator for {config.data.dataset}.")
  sampler = lasium.LasiumSampler(
      generator, kind.name, config.lasium.policy,
      lasium.TaskShape(config.task.n_way, config.task.k_shot,
                       config.task.k_query),
      config.lasium.policy_hyperparameters(),
      config.lasium.resolved_min_distance, config.lasium.max_anchor_tries,
      real_images=(train_images.unlabeled() if kind.anchors_from_images
                   else None),
      query_shift=config.task.query_shift,
      shift_fill=config.resolved_shift_fill)
  return sampler, info


def damaged(path: str, error: Exception) -> ConfigError:
  """A generator whose files TensorFlow cannot load or run (truncated or
  zeroed variables raise anything from IndexError to OpError)."""
  first = (str(error).strip().splitlines() or [""])[0][:200]
  return ConfigError(
      f"--generator={path} cannot be loaded or run ({type(error).__name__}: "
      f"{first}); its files are damaged: export it again "
      f"(--mode=export_generator) or restore the folder.")


def check_generator_shape(generator, config) -> None:
  """Refuses a generator whose images are not the network's input, before
  any work: one decoded latent tells its image shape."""
  made = tuple(int(d) for d in
               generator.decode(tf.zeros([1, generator.latent_dim])).shape[1:])
  wanted = tuple(config.data.image_shape)
  if made != wanted:
    raise ConfigError(
        f"--generator={config.lasium.generator} makes "
        f"{'x'.join(map(str, made))} images, but the run's network takes "
        f"{'x'.join(map(str, wanted))} (--image_size, --channels and the "
        f"data set's own): use a generator trained on images of that size, "
        f"or set --image_size / --channels to match it.")


def noise_std(lasium_config: LasiumConfig) -> float:
  """LASIUM-N's noise standard deviation, however it was given."""
  import numpy as np

  if lasium_config.sigma is not None:
    return lasium_config.sigma
  return round(float(np.sqrt(lasium_config.sigma2)), 6)


def method(config, learner: str) -> str:
  """The paper's row names: LASIUM-RO-MAML and so on."""
  return f"LASIUM-{config.lasium.policy.upper()}-{learner}"


def record(config, generator_info: Optional[Dict] = None) -> Dict:
  """The policy and its hyperparameters, and the generator it decoded."""
  lasium = config.lasium
  values = lasium.policy_hyperparameters()
  return {
      "policy": lasium.policy,
      **values,
      # A fixed noise scale is recorded as a standard deviation too.
      **({"sigma": noise_std(lasium)}
         if values.keys() & {"sigma", "sigma2"} else {}),
      "anchor_rejection": lasium.anchor_rejection,
      "generator": lasium.generator,
      "generator_info": generator_info,
  }


KIND = SOURCES.register(TaskSourceKind(
    name="lasium", build=build, method=method, settings=LasiumConfig,
    help_group="tasks (LASIUM)",
    check=lambda config: config.lasium.validate(), record=record,
    needs_train_part=needs_train_part), replace=True)
