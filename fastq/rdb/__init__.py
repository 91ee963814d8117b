"""The Redis layer: the only code in fastq that issues Redis commands.

``conn`` holds the sync and async connections that run scripts (single or pipelined);
the other modules build the calls for one concern each (enqueue, worker, inspect).
"""

from fastq._lazymeta import import_redis

import_redis()  # before any module of the package imports it: importlib.metadata stays unloaded
