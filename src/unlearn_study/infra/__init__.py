"""Infrastructure: configuration, code hashes, result paths, atomic I/O, the glue every
stage shares, and MLflow tracking. Nothing here knows what the study measures."""
