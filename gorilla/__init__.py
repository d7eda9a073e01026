"""Gorilla: one real API call for what a person asks, from TorchHub, TF Hub or Hugging Face.

The library is usable without the CLI; heavy dependencies (torch, transformers, faiss,
sentence-transformers) are imported only inside the functions that need them.
"""

__version__ = "0.1.0"
