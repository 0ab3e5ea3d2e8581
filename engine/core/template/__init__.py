"""Workflow templates: the frozen model, YAML validation, compilation to a machine, diagrams."""
