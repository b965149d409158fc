"""The one exception family notifications raises.

NotificationError
 ├── TemplateError    a template is missing or fails to render; the message names the file
 └── DeliveryError    a channel could not deliver; ``permanent`` says whether a retry can help
"""


class NotificationError(Exception):
    """Base class for everything this package raises."""


class TemplateError(NotificationError):
    pass


class DeliveryError(NotificationError):
    """Delivery failed.

    ``permanent`` is True when sending the same message again cannot succeed (5xx SMTP replies,
    every recipient refused, no recipients) and False when a later attempt may (4xx replies,
    connection refused or reset, timeouts, other OS errors). Callers retry only transient errors.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
