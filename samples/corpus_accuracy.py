"""Per-check accuracy of the verifier over the labelled corpus (samples/corpus.py):

    python -m samples.corpus_accuracy [CASE ...] [--json] [--list]

generates the corpus recordings that are not cached yet, verifies every case and prints,
per check, how many cases gave the expected status and which did not, then the same
for the verdict. Exit status 1 when any status or verdict differs from the expected.
"""
from samples.corpus import main

if __name__ == "__main__":
    raise SystemExit(main())
