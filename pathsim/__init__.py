"""pathsim: a discrete-event simulator of Pathways-style training on TPU pods."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pathsim")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
