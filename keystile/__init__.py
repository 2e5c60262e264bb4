"""Keystile's face: the ``keystile`` command line and the demo.

The only package that composes both sides (:mod:`gateway` and :mod:`admin_plugin`).
"""

__version__ = "0.1.0"
