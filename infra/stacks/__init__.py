"""Stacks, one per concern; each only wires constructs."""
