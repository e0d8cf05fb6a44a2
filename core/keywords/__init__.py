"""Admin tuning of the keyword rules: the draft, published versions, replay, suggestions, YAML files."""
