"""bardbot: trainer."""
