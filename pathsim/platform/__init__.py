"""The platform: the cluster of TPU pods (torus geometry, islands, routes) and a scenario's link and chip states."""
