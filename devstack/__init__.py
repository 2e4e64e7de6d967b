"""The local stand-in for Azure: emulators, provisioning and a Functions host, for development and tests."""
