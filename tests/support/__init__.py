"""What the tests share: doubles of external services, the web-chat driver, hand-made data sets."""
