"""The command-line tools: ``python -m vitlib.tools.bench`` (throughput), ``python -m
vitlib.tools.time_to_target`` (training time to a test accuracy) and ``python -m vitlib.tools.store_notebooks``
(how ``make notebooks`` stores the lessons). ``record`` writes what they measured, with the command, the
machine and the commit, as JSON."""
