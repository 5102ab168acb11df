"""tis-transformer: translation initiation sites from transcript sequence.

Importing this package never imports torch; the training stack lives in the
modules ``network``, ``train`` and ``export`` and is loaded only by the
commands that need it.
"""

__version__ = "0.1.0"
