"""The one error type for bad input: it names the field and what is wrong."""


class ConfigError(ValueError):
    """Bad user input. The CLI prints `error: <field>: <message>` and exits with code 2."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
