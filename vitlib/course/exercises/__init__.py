"""Exercise checks, one module per lesson (``from vitlib.course.exercises import lesson01``)."""
