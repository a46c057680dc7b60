"""The HTTP/1.1 side facing clients: uvicorn runs the process, ``protocol`` each connection."""
