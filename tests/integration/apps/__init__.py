"""Small apps that the server tests run under real gunicorn, uvicorn and Celery processes."""
