"""dualrec verifier: decodes a 双录 recording and checks it against a ruleset."""

__version__ = "0.1.0"
