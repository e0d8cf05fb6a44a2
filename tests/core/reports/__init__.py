"""Reports: weekly, needs trends, client evaluation, quarterly."""
