"""lasium_tf: LASIUM unsupervised meta-learning in TensorFlow 2 / Keras 3.

Khodadadeh, Zehtabian, Vahidian, Wang, Lin, Boloni. "Unsupervised
Meta-Learning through Latent-Space Interpolation in Generative Models",
ICLR 2021.
"""

__version__ = "0.1.0"
