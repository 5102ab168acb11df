"""tis-transformer: translation initiation sites from transcript sequence.

``predict`` (sequences in, probabilities and site tables out) and
``Predictor`` (a loaded model) are the Python interface; they load numpy and
onnxruntime when first used. Importing this package never imports torch;
the training stack is loaded only by the commands that need it.
"""

__version__ = "0.1.0"
__all__ = ["Prediction", "Predictor", "predict", "__version__"]

_LAZY = {"predict": "predictor.api", "Prediction": "predictor.api", "Predictor": "predictor.runner"}


def __getattr__(name: str):
    # lazily, so that `tis-transformer --version` and the training commands do not load onnxruntime
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
