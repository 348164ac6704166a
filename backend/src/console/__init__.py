"""The operator console: the handoff queue, conversations, disputes and abuse reviews."""
