"""The platform watching itself: failed runs of this code location and failing sensor ticks."""
