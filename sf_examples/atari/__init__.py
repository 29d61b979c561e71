"""atari integration for Sample Factory examples."""
