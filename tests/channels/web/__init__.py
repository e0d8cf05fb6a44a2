"""The web chat through its HTTP interface."""
