"""The ``sentinel`` command (click)."""
