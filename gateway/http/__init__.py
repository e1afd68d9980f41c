"""The HTTP face: app wiring, error translation, auth and routing per request, file serving."""
