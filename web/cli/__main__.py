"""`python -m web.cli`: the same `heart` command."""

from web.cli import app

app()
