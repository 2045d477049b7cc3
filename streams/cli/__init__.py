"""The application shell: the ``kasper`` command, one module per command group."""
