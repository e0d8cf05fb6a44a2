"""The built-in web chat: a real channel through the same engine, usable as a website widget."""
