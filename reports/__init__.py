"""Reports: load results directories, chart them, and check them against a baseline."""
