"""One run: building and fitting it (``fit``), its books (``runs``: record, reuse, resume,
set-aside), the command-line checks, the console and progress, TensorBoard, launcher helpers.
The entry point is ``harness.train``."""
