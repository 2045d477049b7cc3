"""The test suite, a package: ``tests.helpers``, ``tests.chaos`` and the loopback servers
import from the repo root (bench/soak.py uses them too)."""
