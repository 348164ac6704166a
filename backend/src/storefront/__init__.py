"""The marketplace's "My Orders" page, with the dispute assistant's chat widget.

A demo buyer signs in by choosing a name; the page shows their orders (read
from the dispute backend) and embeds the chat widget, which sends the buyer's
signed, expiring chat token with every message so the assistant knows who is
talking without trusting anything the browser could edit.
"""
