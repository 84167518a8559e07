"""bardbot: export."""
