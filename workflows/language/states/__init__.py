"""One module per state type; ``common`` holds what they share (the running state, input and
output processing in both query languages, leaving the state)."""
