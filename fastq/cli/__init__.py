"""The ``fastq`` command line over the Inspector: ``main`` is the entry point."""
