"""The command-line tools: ``python -m vitlib.tools.bench`` (throughput) and
``python -m vitlib.tools.time_to_target`` (training time to a test accuracy). ``record`` writes what
they measured, with the command, the machine and the commit, as JSON."""
