"""The run engine: meta-learning as an experiment (loop, checkpoints,
evaluation, checkpoint selection, tf.distribute), the generator programs, the
export and the table from --mode to each."""
