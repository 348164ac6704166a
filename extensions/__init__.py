"""Code that runs inside the Rasa server: channels, NLU components, speed-ups.

Nothing here changes Rasa when imported: the Rasa server is started through
`python -m extensions.server`, which installs every patch of Rasa explicitly, in one
place (extensions/rasa_patches.py; docs/rasa-patches.md lists them).
"""
