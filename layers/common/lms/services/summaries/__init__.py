"""Learner course summaries and course aggregates, split by what changes together: the pure rules
(`rules`), the read path (`reading`), the stream's recompute (`recompute`) and the fan-out of an
outline change to every enrolled learner (`fanout`). Import the module you need: a handler's cold
start pays only for its own part."""
