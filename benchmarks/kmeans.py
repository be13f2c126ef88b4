"""k-means for CACTUs: TensorFlow (`lasium_tf.tasks.cactus`) against
scikit-learn, on the same points in the same run.

CACTUs clustered 256-d ACAI embeddings of about 24,000 Omniglot images into
500 clusters with scikit-learn's KMeans (k-means++ seeding). Both here: one
k-means++ seeding and Lloyd iterations to convergence (scikit-learn:
n_init=1, its default tolerance). The last line printed is one JSON object
with each one's seconds, the ratio (scikit-learn over TensorFlow) and each
one's inertia (the sum of squared distances to the assigned centers: equal
quality should give about equal inertia). Without scikit-learn installed
(`pip install scikit-learn`; not a dependency) only TensorFlow is timed.

  python benchmarks/kmeans.py --points=24000 --dims=256 --clusters=500
"""

import json
import sys
import time

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

_POINTS = flags.DEFINE_integer("points", 24000, "Points to cluster.")
_DIMS = flags.DEFINE_integer("dims", 256, "Their dimension.")
_CLUSTERS = flags.DEFINE_integer("clusters", 500, "k.")


def main(argv):
  del argv
  import numpy as np

  from lasium_tf.tasks import cluster

  points = np.random.default_rng(0).normal(
      size=(_POINTS.value, _DIMS.value)).astype(np.float32)
  k = _CLUSTERS.value

  def inertia(assignments):
    centers = np.stack([points[assignments == c].mean(0)
                        if (assignments == c).any() else np.zeros(_DIMS.value)
                        for c in range(k)])
    return float(((points - centers[assignments]) ** 2).sum())

  cluster.kmeans(points[:2 * k], k, [0, 0], 2)  # Traces the graphs.
  start = time.perf_counter()
  ours = cluster.kmeans(points, k, [0, 1])
  result = {"benchmark": "kmeans", "points": _POINTS.value,
            "dims": _DIMS.value, "clusters": k,
            "tensorflow_seconds": round(time.perf_counter() - start, 2),
            "tensorflow_inertia": round(inertia(ours), 1)}
  try:
    from sklearn.cluster import KMeans
  except ImportError:
    print("scikit-learn is not installed: TensorFlow alone.", flush=True)
  else:
    start = time.perf_counter()
    theirs = KMeans(k, init="k-means++", n_init=1, random_state=0).fit(
        points).labels_
    result["sklearn_seconds"] = round(time.perf_counter() - start, 2)
    result["sklearn_inertia"] = round(inertia(theirs), 1)
    result["sklearn_over_tensorflow"] = round(
        result["sklearn_seconds"] / result["tensorflow_seconds"], 2)
  print(json.dumps(result), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(app.run(main))
