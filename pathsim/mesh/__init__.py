"""The plan's arithmetic, below placement and the lowering: mesh axes, their sizes, which axes separate
device groups, how layers split over pipeline stages, and which axes split each tensor dimension."""

from pathsim.mesh.plan import Mesh, mesh_of, stage_layers
from pathsim.mesh.sharding import Sharding, sharding_of

__all__ = ["Mesh", "Sharding", "mesh_of", "sharding_of", "stage_layers"]
