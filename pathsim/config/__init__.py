"""Experiment files: the schemas, YAML loading with line-numbered errors, and the generated reference."""
