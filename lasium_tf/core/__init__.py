"""Infrastructure every layer uses: atomic files, stop signals, progress lines,
a quiet TensorFlow, the Keras backend's per-backend parts."""
