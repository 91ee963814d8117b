"""The Redis layer: the only code in fastq that issues Redis commands.

``conn`` holds the sync and async connections that run scripts (single or pipelined);
the other modules build the calls for one concern each (enqueue, worker, inspect).
"""
