"""Read and steer queue state for humans: ``Inspector`` and ``AsyncInspector``."""
