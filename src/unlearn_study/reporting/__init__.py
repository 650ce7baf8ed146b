"""Reporting: markdown sections, figures and the MLflow UI view."""
