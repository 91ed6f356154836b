"""``python -m carbonlib`` runs the ``carbon`` command line."""

from .cli import app

app(prog_name="carbon")
