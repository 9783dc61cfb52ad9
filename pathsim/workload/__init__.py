"""The workload: model arithmetic and the Program (op graph of one step), from pathsim's lowering or from XLA."""
