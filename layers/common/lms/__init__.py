"""Shared domain code for the LMS Enrollments and Progress service (the common Lambda layer)."""
