"""Downstream evaluation: labels, unit features, prediction heads, metrics and summaries."""
