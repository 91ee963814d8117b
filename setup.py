"""Build the Cython core. All compiler directives live here, in one place."""

from Cython.Build import cythonize
from setuptools import Extension, setup

DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(
        [Extension("fastq._core", ["fastq/_core.pyx"], extra_compile_args=["-O2"])],
        compiler_directives=DIRECTIVES,
    ),
)
