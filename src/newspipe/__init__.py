"""newspipe: news feeds in, one canonical record per story out."""

__version__ = "0.1.0"
