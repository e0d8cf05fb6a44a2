"""Entry points: the composition root, HTTP routes beyond the channels, scheduled jobs and the CLI."""
