"""Kept for export/message.py and export/shakespeare.py, which import ExportError from here."""

from bardbot.trainer.runs import UserError as ExportError

__all__ = ["ExportError"]
