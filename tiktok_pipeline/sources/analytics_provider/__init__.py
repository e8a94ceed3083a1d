"""The approved analytics provider's API (EchoTik-style): client (:mod:`.client`) and strict models (:mod:`.models`)."""
