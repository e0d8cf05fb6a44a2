"""kefu core: the conversation model, dialogue engine and persistence, free of any channel SDK."""
