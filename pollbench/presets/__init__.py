"""Planning workloads shipped with pollbench (package data): one scenario TOML per preset, e.g. seed-chat."""
