"""Triggers: each module is one blueprint whose functions parse, call one service function, return."""
