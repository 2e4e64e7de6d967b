"""Services: one use case per module, called by the thin triggers in functions/."""
