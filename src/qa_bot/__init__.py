"""qa-bot: question answering over your documents, with verified citations.

>>> from qa_bot import answer
>>> a = answer("Who heads NATO's Military Committee?")
>>> a.text, a.citations[0].quote
"""

from qa_bot.config import Settings, get_settings
from qa_bot.ingestion.indexer import ingest
from qa_bot.pipeline import answer, get_bot, stream_answer
from qa_bot.schema import Answer, Chunk, Citation, IngestReport, QABotError, SearchHit, Stage

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "IngestReport",
    "QABotError",
    "SearchHit",
    "Settings",
    "Stage",
    "answer",
    "get_bot",
    "get_settings",
    "ingest",
    "stream_answer",
]
