"""duban's web side: units reply through a signed link, coordinators work from a dashboard.

The pages are an edge, like the command line: they read and write through ``tracking`` and never
read the clock anywhere else than here (``duban.now()``).
"""
