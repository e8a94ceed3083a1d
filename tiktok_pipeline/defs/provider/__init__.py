"""The approved analytics provider (group ``collect``, source ``analytics_provider``): polled every window.

Loaded only when ``TIKTOK_PROVIDER_ENABLED`` is set (:mod:`tiktok_pipeline.governance.admission`); its asset is then
part of ``window_pipeline_job`` (group ``collect``), upstream of ``enriched_video_metrics``.
"""
