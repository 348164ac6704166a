"""Code that runs inside the Rasa server: channels and NLU components."""
