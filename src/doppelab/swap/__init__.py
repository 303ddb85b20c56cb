"""Face-swap creation: methods, training, conversion and post-processing (always labelled)."""
