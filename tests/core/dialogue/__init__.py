"""The dialogue: classifier, machine, understanding, entities, learned models, evaluations."""
