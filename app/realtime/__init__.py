"""Real-time: change events, the subscription engine and the WebSocket protocols."""
