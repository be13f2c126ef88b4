"""The library's error types, at the bottom of its layers.

Every layer raises these, so they live where every layer may import them:
a `ConfigError` is what the command lines print as one `error:` line.
"""


class ConfigError(ValueError):
  """A configuration value is impossible; the message says which and why."""


class DivergedError(ConfigError):
  """Training or evaluation produced a non-finite number; nothing was saved.

  A ConfigError: the cure is a setting (usually a learning rate), and the
  command line reports it like any other bad value.
  """


class DiskFullError(ConfigError):
  """The disk filled while the library wrote; what was being written was
  removed. A ConfigError: the command line reports it as one line (the
  cure is space, or another folder)."""


class FewShotError(ValueError):
  """Bad input to a few-shot classifier (`lasium_tf.classifier`,
  `lasium_tf.few_shot`); the message names it and the fix."""
