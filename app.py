"""Start the qa-bot web chat: ``python app.py [--host H] [--port P] [-g extractive|local|openai] [--store DIR]``.

Same as ``qa-bot serve``; serves http://127.0.0.1:7860 unless told otherwise (GRADIO_SERVER_PORT also works).
An empty store is filled with the bundled seeds/ first, so a new user gets a working bot.
"""

import sys
from pathlib import Path

try:
    import qa_bot  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from qa_bot.apps.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
