"""What the benchmark scripts share: the median time of a call."""

import statistics
import time


def median_seconds(fn, repeats: int) -> float:
  """Median wall time of `repeats` calls of `fn`, after one to compile."""
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)
