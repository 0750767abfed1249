"""Console widgets, grouped by the screen region they serve."""
