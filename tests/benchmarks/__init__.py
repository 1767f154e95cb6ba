"""Tests of the benchmark tools that are not timed."""
