"""An EchoTik-style analytics provider (``/api/v2/``), served by the simulator beside TikTok's own APIs.

:mod:`.catalog` is what the provider knows (snapshots of the simulator's world taken at its own crawl instants, with
partial coverage); :mod:`.app` answers HTTP requests with the provider's envelope, Basic credentials and rate limit.
"""
