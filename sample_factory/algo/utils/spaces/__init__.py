"""Extra gymnasium spaces used by some environments (`Discretized`)."""
