"""bardbot: bot."""
