"""Code that runs inside the Rasa server: channels, NLU components, speed-ups.

Rasa imports this package at start-up (the web chat channel and the entity
extractor live here), which is when the speed-ups are installed.
"""

from extensions import speedups

speedups.install()
