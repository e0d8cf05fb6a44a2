"""The application around core: CLI, settings, deployment files, doctor, readiness, migrations, docs, layering."""
