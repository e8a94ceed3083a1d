"""The offline TikTok simulator (Display API, API for Business, Events API): the embedded default, apart from the pipeline."""
