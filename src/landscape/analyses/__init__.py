"""One module per research question (docs/DESIGN.md §5); each declares ``ANALYSIS`` and exposes ``run(...)``."""
