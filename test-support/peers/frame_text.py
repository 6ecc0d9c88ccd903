"""The text form of frames shared by the test peers and their Rust harness.

A message is a comma-separated list of frames: `-` is an empty frame, `*N` is
N bytes of a fixed pattern (so large frames cost no hex on the command line),
anything else is the frame in hex.
"""


def pattern(n):
    """N bytes of a pattern whose period (251) matches no power of two, so a
    shifted or truncated frame never compares equal."""
    base = bytes(range(251))
    return (base * (n // 251 + 1))[:n]


def text_to_frames(text):
    frames = []
    for part in text.split(","):
        if part == "-":
            frames.append(b"")
        elif part.startswith("*"):
            frames.append(pattern(int(part[1:])))
        else:
            frames.append(bytes.fromhex(part))
    return frames


def frames_to_text(frames, sep=","):
    return sep.join(f.hex() if f else "-" for f in frames)
