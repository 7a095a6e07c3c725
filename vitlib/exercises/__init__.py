"""Exercise checks, one module per lesson (``from vitlib.exercises import lesson01``)."""
