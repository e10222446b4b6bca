"""camserve's web service: ``camserve.service.app.create_app`` builds the FastAPI application.

Nothing is imported here, so the service's small parts (settings, rendering) load without the whole app.
"""
