"""The ``fastq-worker`` daemon: a prefork supervisor around the worker engine."""
