#!/usr/bin/env python3
"""A Caesar-cipher breaker that serves over a pipe: an example model for pipecli.

It reads ciphertext on stdin, one request per line, and writes one answer line
per request on stdout: the plaintext whose letter frequencies are closest to
English (chi-squared over the 26 shifts). Case is kept; anything that is not
an ASCII letter is left as it is. Standard library only. Letter counts need
a sentence or so: a few words, or a pangram ("The quick brown fox"), can
come out as the wrong shift.

    pipecli run -- python3 -u scripts/model.py
    pipecli run --framing jsonl -- python3 -u scripts/model.py --jsonl
    pipecli run --image pipe_api_py          # scripts/build-python-image.sh

Like most model scripts, it does not flush its answers: when stdout is a pipe,
Python keeps them in an 8 KiB buffer, and the caller waits for answers that
are not on their way. `python3 -u`, PYTHONUNBUFFERED=1, or pipecli's --pty or
--image make them come line by line; --flush flushes after each answer, which
is what a model you write yourself should do.

Options:
    --jsonl          requests {"id": ..., "text": "..."}, answers
                     {"id": ..., "text": "...", "shift": N} or {"id": ..., "error": "..."}
    --flush          flush stdout after each answer
    --ready          print a line "ready" before reading (for pipecli --ready)
    --crash-after N  exit with status 3, unanswered, on receiving request N
                     (to test restarts)
"""

import argparse
import json
import os
import string
import sys

# How often each letter, a to z, occurs in English text, in percent.
ENGLISH = [
    8.17, 1.49, 2.78, 4.25, 12.70, 2.23, 2.02, 6.09, 6.97, 0.15, 0.77, 4.03, 2.41,
    6.75, 7.51, 1.93, 0.10, 5.99, 6.33, 9.06, 2.76, 0.98, 2.36, 0.15, 1.97, 0.07,
]

LOWER, UPPER = string.ascii_lowercase, string.ascii_uppercase


def shift(text, k):
    """Return text with each ASCII letter moved k places on in the alphabet."""
    k %= 26
    return text.translate(str.maketrans(
        LOWER + UPPER, LOWER[k:] + LOWER[:k] + UPPER[k:] + UPPER[:k]))


def crack(ciphertext):
    """Return (plaintext, shift): the shift that most likely made ciphertext."""
    counts = [0] * 26
    for c in ciphertext:
        i = string.ascii_letters.find(c)  # a-z are 0-25, A-Z 26-51
        if i >= 0:
            counts[i % 26] += 1
    n = sum(counts)
    if n == 0:
        return ciphertext, 0

    def chi_squared(k):
        # Plaintext letter p was written as p+k: compare its count to English.
        return sum((counts[(p + k) % 26] - n * f / 100) ** 2 / (n * f / 100)
                   for p, f in enumerate(ENGLISH))

    k = min(range(26), key=chi_squared)
    return shift(ciphertext, -k), k


def answer_plain(line):
    return crack(line)[0]


def answer_jsonl(line):
    # Ids are echoed as parsed: strings and integers come back exactly as
    # sent (pipecli's own ids are integers); a float such as 1.50 would come
    # back as 1.5, which a client matching ids by their text would not find.
    try:
        request = json.loads(line)
    except ValueError as err:
        return json.dumps({"id": None, "error": f"request is not JSON: {err}"})
    if not isinstance(request, dict):
        return json.dumps({"id": None, "error": 'request is not a JSON object; send {"id": 1, "text": "..."}'})
    rid = request.get("id")
    text = request.get("text")
    if not isinstance(text, str):
        return json.dumps({"id": rid, "error": 'request has no "text" string'})
    plaintext, k = crack(text)
    return json.dumps({"id": rid, "text": plaintext, "shift": k})


def main(argv=None):
    parser = argparse.ArgumentParser(description="Break Caesar ciphers, one line at a time.")
    parser.add_argument("--jsonl", action="store_true", help="JSON Lines requests and answers")
    parser.add_argument("--flush", action="store_true", help="flush stdout after each answer")
    parser.add_argument("--ready", action="store_true", help='print "ready" before reading')
    parser.add_argument("--crash-after", type=int, metavar="N", help="exit 3 on receiving request N")
    args = parser.parse_args(argv)
    answer = answer_jsonl if args.jsonl else answer_plain

    # Bytes that are not UTF-8 come back unchanged instead of crashing the
    # model (PEP 383). (On POSIX, sys.stdin already ends lines at "\n" only,
    # so a "\r" inside a request does not make it two.)
    sys.stdin.reconfigure(errors="surrogateescape")
    sys.stdout.reconfigure(errors="surrogateescape")

    try:
        if args.ready:
            sys.stdout.write("ready\n")
            if args.flush:
                sys.stdout.flush()
        # In Python 3, iterating over stdin yields each line as soon as it
        # arrives; it does not wait for a full buffer as Python 2 did.
        for n, line in enumerate(sys.stdin, 1):
            if n == args.crash_after:
                print(f"model.py: crashing on request {n}, as --crash-after {n} says", file=sys.stderr)
                return 3
            # No flush here unless asked: see the module docstring.
            sys.stdout.write(answer(line.removesuffix("\n")) + "\n")
            if args.flush:
                sys.stdout.flush()
        # Flush here rather than at exit, so that a closed pipe lands below.
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Nobody reads our answers any more. Point stdout at /dev/null so
        # that Python's flush at exit does not complain again; see "Note on
        # SIGPIPE" in the signal module's documentation.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
