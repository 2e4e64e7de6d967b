"""A local Azure Functions host that drives a Python v2 FunctionApp's HTTP, queue and timer triggers."""
