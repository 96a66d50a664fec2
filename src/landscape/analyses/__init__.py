"""One module per research question (DESIGN §5); each exposes ``run(...)`` writing a results file."""
