"""Command-line interface: one module per command; no maths here."""
