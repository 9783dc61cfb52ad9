"""Costs: how long an op, a collective and a link transfer take, and the HBM a plan needs; cost models by name."""
