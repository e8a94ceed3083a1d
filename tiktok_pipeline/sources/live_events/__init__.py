"""LIVE events a user collected on their own responsibility (unofficial source ``live_events``): the line models.

There is no client here: TikTok has no public LIVE events API and the pipeline ships no connector or scraper.
"""
