"""The Textual app `downtime browse` (see app.make_app)."""

import os

# Textual repaints at most this many times a second, and a change waits for the next frame:
# at its default 60, a keystroke's result (the filter echoed, then the census updated) waits
# up to 17 ms a frame, about a third of the 50 ms budget. Repaints happen only when something
# changed, so a higher ceiling costs nothing while nobody types. Set before Textual is first
# imported (it reads the variable once); a site may set its own.
os.environ.setdefault("TEXTUAL_FPS", "120")
