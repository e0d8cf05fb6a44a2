"""Channel adapters: each package converts its network's messages to core's model and sends replies back."""
