"""Placement: the plan's mesh axes onto the torus dims of each island, DCN axes onto islands."""
