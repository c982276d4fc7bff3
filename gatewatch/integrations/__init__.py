"""What gatewatch knows of frameworks (Django, Channels, Flask) and servers (gunicorn's hooks,
which server serves this process)."""
