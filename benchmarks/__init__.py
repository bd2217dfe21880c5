"""Benchmarks (``make bench``): each module's ``run()`` returns its figures; ``__main__`` prints them.

They run against a throw-away PostgreSQL database (created and dropped like a test database) because
the figures they prove are PostgreSQL's: set ``DATABASE_URL`` (default postgres://root@127.0.0.1:5432/test).
"""
