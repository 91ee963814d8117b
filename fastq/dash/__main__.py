"""``python -m fastq.dash``: the same as ``fastq dash``."""

from fastq.dash.cli import main

main()
