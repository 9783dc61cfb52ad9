"""pathsim: a discrete-event simulator of Pathways-style training on TPU pods."""

__version__ = "0.1.0"
