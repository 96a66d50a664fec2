"""One module per figure; each reads result files only and never recomputes."""
