"""`make bench`: figures for the local runtime, printed, never asserted by the tests."""
