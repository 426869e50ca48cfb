"""Tests of scripts/model.py, the example Python model, run as pipecli runs it.

    python3 -m unittest discover -s scripts -p 'test_*.py'
"""

import json
import os
import queue
import string
import subprocess
import sys
import threading
import unittest

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.py")

# Ordinary English, long enough for letter frequencies to tell the shift.
SENTENCES = [
    "Meet me at the old oak tree at noon.",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "Hello there, how are you today? I hope the weather is fine where you are.",
    "All the world's a stage, and all the men and women merely players.",
]

# Long enough for any waiting that is not a stall, short enough to fail fast.
TIMEOUT = 10


def encrypt(text, k):
    """The Caesar cipher, written here independently of model.shift."""
    out = []
    for c in text:
        for alphabet in (string.ascii_lowercase, string.ascii_uppercase):
            if c in alphabet:
                c = alphabet[(alphabet.index(c) + k) % 26]
                break
        out.append(c)
    return "".join(out)


def run(args, stdin, python_flags=("-u",)):
    """Runs model.py with args to the end on stdin (bytes or str)."""
    if isinstance(stdin, str):
        stdin = stdin.encode()
    return subprocess.run([sys.executable, *python_flags, MODEL, *args], input=stdin,
                          capture_output=True, timeout=TIMEOUT, env=child_env())


def child_env():
    # The stall tests need Python's default buffering, whatever the
    # environment of the test run says.
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


class Child:
    """model.py running over pipes, its answers read as they come."""

    def __init__(self, test, args=(), python_flags=("-u",)):
        self.proc = subprocess.Popen([sys.executable, *python_flags, MODEL, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=child_env())
        self.lines = queue.Queue()
        reader = threading.Thread(target=self._read)
        reader.start()
        test.addCleanup(reader.join)
        test.addCleanup(self.proc.wait)
        test.addCleanup(self.proc.kill)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode())
        self.proc.stdout.close()
        self.lines.put(None)  # EOF

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, timeout=TIMEOUT):
        """The next answer line, without its newline; None at EOF."""
        line = self.lines.get(timeout=timeout)  # queue.Empty if none came
        return line if line is None else line.removesuffix("\n")

    def close(self):
        """Closes stdin and returns the exit status."""
        self.proc.stdin.close()
        return self.proc.wait(timeout=TIMEOUT)


class TestPlain(unittest.TestCase):
    def test_every_shift(self):
        requests, want = [], []
        for sentence in SENTENCES:
            for k in range(1, 26):
                requests.append(encrypt(sentence, k))
                want.append(sentence)
        res = run([], "".join(r + "\n" for r in requests))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.decode().splitlines(), want)

    def test_lines_kept_as_they_are(self):
        cases = [
            ("", ""),                 # empty line in, empty line out
            ("12345 !?", "12345 !?"),  # no letters: unchanged
            (encrypt("Hello there, how are you today? It's 5 o'clock!", 7),
             "Hello there, how are you today? It's 5 o'clock!"),
            (encrypt("HELLO THERE, HOW ARE YOU TODAY?", 11), "HELLO THERE, HOW ARE YOU TODAY?"),
            (encrypt("Café au lait, naïve résumé of the day", 4), "Café au lait, naïve résumé of the day"),
        ]
        for line, want in cases:
            with self.subTest(line=line):
                res = run([], line + "\n")
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertEqual(res.stdout.decode(), want + "\n")

    def test_one_answer_per_newline(self):
        # A lone "\r" and a byte that is not UTF-8 stay inside one request.
        line = encrypt("Meet me at the old oak tree", 5).encode() + b"\r\xff" + encrypt(" at noon", 5).encode()
        res = run([], line + b"\n")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, b"Meet me at the old oak tree\r\xff at noon\n")

    def test_last_line_without_newline(self):
        res = run([], encrypt(SENTENCES[0], 9))
        self.assertEqual((res.returncode, res.stdout.decode()), (0, SENTENCES[0] + "\n"))

    def test_ready_banner(self):
        res = run(["--ready"], encrypt(SENTENCES[0], 2) + "\n")
        self.assertEqual(res.stdout.decode().splitlines(), ["ready", SENTENCES[0]])

    def test_crash_after(self):
        lines = [encrypt(s, 3) + "\n" for s in SENTENCES[:3]]
        res = run(["--crash-after", "2"], "".join(lines))
        self.assertEqual(res.returncode, 3)
        # Answered up to the crash; request 2 is not.
        self.assertEqual(res.stdout.decode(), SENTENCES[0] + "\n")
        self.assertIn("request 2", res.stderr.decode())


class TestJSONL(unittest.TestCase):
    def jsonl(self, *lines):
        res = run(["--jsonl"], "".join(line + "\n" for line in lines))
        self.assertEqual(res.returncode, 0, res.stderr)
        return [json.loads(line) for line in res.stdout.decode().splitlines()]

    def test_ids_echoed(self):
        got = self.jsonl(json.dumps({"id": 7, "text": encrypt(SENTENCES[1], 13)}),
                         json.dumps({"id": "req-é", "text": encrypt(SENTENCES[2], 1)}),
                         json.dumps({"text": encrypt(SENTENCES[3], 25)}))
        self.assertEqual(got, [
            {"id": 7, "text": SENTENCES[1], "shift": 13},
            {"id": "req-é", "text": SENTENCES[2], "shift": 1},
            {"id": None, "text": SENTENCES[3], "shift": 25},
        ])

    def test_bad_requests_answered_with_errors(self):
        good = json.dumps({"id": 9, "text": encrypt(SENTENCES[0], 4)})
        cases = [
            ("not json", None),
            ('{"id": 1, "text": "unterminated', None),
            ("[1, 2]", None),
            ('"just a string"', None),
            ("", None),
            ('{"id": 2}', 2),
            ('{"id": "s", "text": 5}', "s"),
        ]
        for line, want_id in cases:
            with self.subTest(line=line):
                # The model goes on after a bad request.
                got = self.jsonl(line, good)
                self.assertEqual(len(got), 2, got)
                self.assertEqual(got[0]["id"], want_id)
                self.assertIsInstance(got[0].get("error"), str)
                self.assertNotIn("text", got[0])
                self.assertEqual(got[1], {"id": 9, "text": SENTENCES[0], "shift": 4})


class TestPipe(unittest.TestCase):
    """Answers over real pipes, one request at a time, as pipecli sends them."""

    def ping_pong(self, child, jsonl=False):
        for i, sentence in enumerate(SENTENCES):
            ciphertext = encrypt(sentence, i + 1)
            if jsonl:
                child.send(json.dumps({"id": i, "text": ciphertext}))
                want = json.dumps({"id": i, "text": sentence, "shift": i + 1})
            else:
                child.send(ciphertext)
                want = sentence
            # The answer comes before the next request is sent.
            self.assertEqual(child.answer(), want)
        self.assertEqual(child.close(), 0)
        self.assertIsNone(child.answer())

    def test_unbuffered(self):
        self.ping_pong(Child(self, python_flags=("-u",)))

    def test_unbuffered_jsonl(self):
        self.ping_pong(Child(self, ["--jsonl"], python_flags=("-u",)), jsonl=True)

    def test_flush(self):
        self.ping_pong(Child(self, ["--flush"], python_flags=()))

    def test_buffered_stalls(self):
        # Without -u, PYTHONUNBUFFERED or --flush the answer waits in
        # Python's buffer until stdin is closed: the stall pipecli's
        # buffering hint is about.
        child = Child(self, python_flags=())
        child.send(encrypt(SENTENCES[0], 3))
        with self.assertRaises(queue.Empty):
            child.answer(timeout=0.5)
        self.assertEqual(child.close(), 0)
        self.assertEqual(child.answer(), SENTENCES[0])


if __name__ == "__main__":
    unittest.main()
