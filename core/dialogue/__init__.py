"""The dialogue: classification, detail collection and the state machine."""
