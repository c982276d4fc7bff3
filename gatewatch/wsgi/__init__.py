"""The WSGI side: the middleware, the response and input wrappers, and the server's workers."""
