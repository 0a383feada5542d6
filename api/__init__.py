"""The front doors of Rebuild Tracker: the HTTP service and the ``rebuild`` command line."""
