"""The one exception family tracking raises; the command line prints its message and exits.

TrackingError
 ├── InputError       bad input: a file row, a command argument; ``problems`` lists each place
 ├── NotFoundError    a proposal, item or unit that does not exist
 ├── ConflictError    the change contradicts what is recorded (e.g. an update to a closed item),
 │                    or another user changed the record meanwhile
 └── SchemaError      the database's schema is not the revision this duban needs
"""


class TrackingError(Exception):
    """Base class: the message is written for the person at the keyboard."""


class InputError(TrackingError):
    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        head = super().__str__()
        return "\n".join([head, *("  " + problem for problem in self.problems)])


class NotFoundError(TrackingError):
    pass


class ConflictError(TrackingError):
    pass


class SchemaError(TrackingError):
    pass
