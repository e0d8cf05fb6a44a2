"""Real-browser tests of the built-in web chat (Playwright driving Debian's Chromium)."""
