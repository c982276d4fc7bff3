"""The ASGI side: the middleware, its exchange with the server, WebSocket sessions, the step
timer that measures how long each request holds the event loop, the loop watch and offload."""
