"""``cnnlab studio``: a local web page to look inside your own models and runs.

Runs and their reports, predictions with feature maps and learned filters, a kernel
playground and conv arithmetic stepped cell by cell, served by Starlette from this package's
``static/`` folder (no build step, no CDN) and a JSON API (see :mod:`cnnlab.studio.app`).

>>> from cnnlab.studio import create_app
>>> app = create_app("runs")  # serve with uvicorn.run(app, host="127.0.0.1", port=8765)
"""

from cnnlab.studio.app import create_app

__all__ = ["create_app"]
