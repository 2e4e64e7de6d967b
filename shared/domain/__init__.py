"""Pure domain code of the service: formats, messages, retention maths and pricing, with no I/O."""
