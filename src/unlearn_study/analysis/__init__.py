"""Analysis: pure functions on tables (no I/O, no rendering): units, bootstrap intervals,
the calibrated test, groups and claims."""
