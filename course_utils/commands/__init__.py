"""One module per command of ``python -m course_utils`` (see ``course_utils.cli``)."""
