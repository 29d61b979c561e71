"""Models: encoders, cores, decoders, action heads and distributions, normalizers and the actor-critic."""
