"""qa-bot: question answering over your documents, with verified citations.

>>> from qa_bot import answer
>>> a = answer("Who heads NATO's Military Committee?")
>>> a.text, a.citations[0].quote

``answer``, ``stream_answer`` and ``ingest`` run on a default service per distinct settings; an application that
manages its own lifetime makes a ``QABot`` (qa_bot.service) and closes it when done.
"""

from qa_bot.config import Settings, get_settings
from qa_bot.schema import Answer, Chunk, Citation, IngestReport, QABotError, SearchHit, Stage
from qa_bot.service import QABot, answer, get_bot, ingest, stream_answer

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "IngestReport",
    "QABot",
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
