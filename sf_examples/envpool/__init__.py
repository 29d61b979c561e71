"""envpool integration for Sample Factory examples."""
