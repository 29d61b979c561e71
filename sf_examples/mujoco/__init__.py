"""mujoco integration for Sample Factory examples."""
