"""fairseq ``--user-dir`` plugin: lets torch >= 2.6 load fairseq checkpoints.

torch.load defaults to ``weights_only=True``; fairseq checkpoints pickle an
``argparse.Namespace`` with their arguments. Allow-listing that one class keeps the safe
loader on, instead of switching it off for the whole environment.
"""

import argparse

import torch

torch.serialization.add_safe_globals([argparse.Namespace])
