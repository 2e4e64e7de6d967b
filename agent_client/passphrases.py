"""Gets the vault passphrase from the environment or an interactive prompt, never from arguments."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping

from agent_client.errors import UsageError
from agent_client.keys import check_new_passphrase

PASSPHRASE_VARIABLE = "BACKUP_AGENT_PASSPHRASE"
NEW_PASSPHRASE_VARIABLE = "BACKUP_AGENT_NEW_PASSPHRASE"


class Passphrases:
    """Asks once per process for the current passphrase, and (confirmed twice) for a new one."""

    def __init__(self, environ: Mapping[str, str] | None = None, prompt: Callable[[str], str] | None = None,
                 interactive: bool | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._prompt = prompt or getpass.getpass
        self._interactive = sys.stdin.isatty() if interactive is None else interactive
        self._current: str | None = None

    def current(self) -> str:
        if self._current is None:
            self._current = self._environ.get(PASSPHRASE_VARIABLE) or self._ask("Vault passphrase: ", PASSPHRASE_VARIABLE)
        return self._current

    def first(self) -> str:
        """The passphrase that will protect a vault that has no key yet."""
        passphrase = self._environ.get(PASSPHRASE_VARIABLE)
        if passphrase is None:
            passphrase = self._ask_twice("New vault passphrase (at least 16 characters): ", PASSPHRASE_VARIABLE)
        check_new_passphrase(passphrase)
        self._current = passphrase
        return passphrase

    def replacement(self) -> str:
        passphrase = self._environ.get(NEW_PASSPHRASE_VARIABLE)
        if passphrase is None:
            passphrase = self._ask_twice("New passphrase (at least 16 characters): ", NEW_PASSPHRASE_VARIABLE)
        check_new_passphrase(passphrase)
        return passphrase

    def _ask(self, question: str, variable: str) -> str:
        if not self._interactive:
            raise UsageError(f"no passphrase: set {variable} or run in a terminal")
        try:
            return self._prompt(question)
        except (EOFError, KeyboardInterrupt):
            raise UsageError("no passphrase given") from None

    def _ask_twice(self, question: str, variable: str) -> str:
        first = self._ask(question, variable)
        check_new_passphrase(first)
        if self._ask("Repeat it: ", variable) != first:
            raise UsageError("the two passphrases differ")
        return first
