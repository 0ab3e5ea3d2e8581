"""The HTTP edge: a FastAPI app over the service layer (`planflow serve`)."""
