"""Custom actions of the dispute assistant, one module per skill."""
