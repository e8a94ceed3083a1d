"""The merchandising feed's outputs: published files (``files.py``) and the signed webhook push (``webhook.py``,
``ledger.py``: never twice per feed version)."""
