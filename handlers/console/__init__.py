"""The rep console: sign-in, queues, conversations, takeover and resolution, in the browser."""
