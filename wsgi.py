"""WSGI entry point: gunicorn and `flask --app wsgi` load `app` from here."""
from portal import create_app

app = create_app()
