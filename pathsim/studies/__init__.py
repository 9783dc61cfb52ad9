"""Studies built on the core: what-if sweeps, shared pods, and the Pathways paper experiments."""
