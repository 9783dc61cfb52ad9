"""The plan's arithmetic, below placement and the lowering: mesh axes, their sizes, which axes separate
device groups, and how layers split over pipeline stages."""

from pathsim.mesh.plan import Mesh, mesh_of, stage_layers

__all__ = ["Mesh", "mesh_of", "stage_layers"]
