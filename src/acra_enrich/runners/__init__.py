"""Runners choose which companies go through the pipeline, and when; the pipeline
(`acra_enrich.enrich`) knows how to enrich one. `direct` is the manual, resumable sweep
over ACRA staging."""
