"""Defines StackError, the failure every stack command reports as one line."""


class StackError(Exception):
    """The stack cannot do what was asked; the message is one line for the user."""
