"""Reusable constructs wired together by the stacks."""
