"""The one exception type the core raises; the CLI turns it into a one-line error."""


class NstError(Exception):
    """A problem the user can fix; str(error) is a single line saying what and how."""
