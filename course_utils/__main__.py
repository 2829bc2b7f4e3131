"""``python -m course_utils COMMAND``: see ``course_utils.cli``."""
import sys

from course_utils.cli import main

sys.exit(main())
