"""The Asynq guide's shop, on fastq: an API that answers at once, workers on weighted queues.

See ``examples/shop/README.md``; ``make demo`` runs all of it.
"""
